/**
 * Helpers of the mirror tests: misbehaving targets (a TCP server that accepts and never
 * speaks, one that resets every connection), a percentile, a bounded pool of concurrent calls,
 * and the mirror filter's counters from /metrics.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { scrape, sample } from './scrape.js'

export interface BadTarget { port: number, accepted: number, close (): Promise<void> }

/** Accepts connections and reads (or not), never answers: a hung target. */
export async function startHungTarget (read = false): Promise<BadTarget> {
  return await startTcp((s, t) => { t.accepted++; if (read) s.resume(); else s.pause() })
}

/** Resets every connection as soon as it is accepted. */
export async function startResetTarget (): Promise<BadTarget> {
  return await startTcp((s, t) => { t.accepted++; s.resetAndDestroy() })
}

async function startTcp (onConn: (s: Socket, t: BadTarget) => void): Promise<BadTarget> {
  const sockets = new Set<Socket>()
  const server = createServer()
  const t: BadTarget = {
    port: 0,
    accepted: 0,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>(resolve => server.close(() => resolve())) },
  }
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    onConn(s, t)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  t.port = (server.address() as AddressInfo).port
  return t
}

export function percentile (xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]
}

/** Run `n` calls, `concurrency` at a time; returns each call's result in order. */
export async function runCalls<T> (n: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) { const i = next++; out[i] = await one(i) }
  }
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker))
  return out
}

/** The mirror filter's counters for one target. */
export async function mirrorCounts (adminPort: number, target: string): Promise<Record<string, number>> {
  const { text } = await scrape(adminPort)
  const out: Record<string, number> = {}
  for (const o of ['ok', 'timeout', 'reset', 'connect', 'aborted']) out[o] = sample(text, 'isthmus_mirror_calls_total', { target, outcome: o })
  for (const r of ['cap', 'inflight', 'buffer', 'unavailable']) out[`dropped_${r}`] = sample(text, 'isthmus_mirror_dropped_total', { target, reason: r })
  out.stress = sample(text, 'isthmus_mirror_stress_skipped_total', { target })
  for (const r of ['match', 'mismatch', 'incomplete']) out[r] = sample(text, 'isthmus_mirror_comparisons_total', { target, result: r })
  out.ended = out.ok + out.timeout + out.reset + out.connect + out.aborted
  return out
}
