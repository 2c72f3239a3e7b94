/** Small helpers of the hostile tests: polling, /proc, one-shot HTTP requests, Prometheus text. */
import { readdirSync, readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'

/** Generous overall timeout of every poll. */
export const WAIT_MS = 15000

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Poll `pred` until it holds; throws naming `what` (and the last value seen) after `timeoutMs`. */
export async function waitFor<T> (pred: () => T | Promise<T>, what: string, timeoutMs = WAIT_MS, everyMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await pred()
      if (v !== false && v !== null && v !== undefined) return v as NonNullable<T>
      last = v
    } catch (err) {
      last = err instanceof Error ? err.message : err
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`)
    await sleep(everyMs)
  }
}

/** Open fds of a process (Linux). */
export function fdCount (pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/** RSS of a process in bytes (Linux). */
export function rssBytes (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

/** One HTTP request on a fresh connection (`connection: close`, so no socket lingers in the gateway). */
export function httpCall (port: number, method: string, path: string, opts: { headers?: Record<string, string>, body?: string | Buffer, host?: string } = {}): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { connection: 'close', ...opts.headers }
    if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body)
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false, setHost: opts.host === undefined }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    if (opts.host !== undefined) req.setHeader('host', opts.host)
    req.on('error', reject)
    req.setTimeout(WAIT_MS, () => req.destroy(new Error(`${method} ${path}: no answer`)))
    req.end(opts.body)
  })
}

export type Labels = Record<string, string>

/** Prometheus text -> samples of `name` whose labels include `labels`. */
export function samples (text: string, name: string, labels: Labels = {}): Array<{ labels: Labels, value: number }> {
  const out: Array<{ labels: Labels, value: number }> = []
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (m === null || m[1] !== name) continue
    const ls: Labels = {}
    if (m[3] !== undefined) for (const p of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) ls[p[1]] = p[2]
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) out.push({ labels: ls, value: Number(m[4]) })
  }
  return out
}
