/**
 * Read a gateway's own counters from /metrics, with the time of the scrape (the midpoint of
 * request and response, so a slow scrape moves the window by at most half its round trip).
 * Rates in tests are counts over the window between two scrapes: the gateway's counts, not
 * the client's, so a busy machine delays both ends alike.
 */
import { performance } from 'node:perf_hooks'
import { metricsText } from './http.js'

export interface Scrape { at: number, text: string }

export async function scrape (adminPort: number): Promise<Scrape> {
  const t0 = performance.now()
  const text = await metricsText(adminPort)
  return { at: (t0 + performance.now()) / 2, text }
}

/** A sample's value; 0 when the series does not exist yet. */
export function sample (text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels)
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const got = new Map<string, string>()
    for (const p of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got.set(p[1], p[2])
    if (want.every(([k, v]) => got.get(k) === v)) return Number(m[4])
  }
  return 0
}

/** Per-second rate of a counter between two scrapes. */
export function rate (a: Scrape, b: Scrape, name: string, labels: Record<string, string> = {}): number {
  return (sample(b.text, name, labels) - sample(a.text, name, labels)) * 1000 / (b.at - a.at)
}
