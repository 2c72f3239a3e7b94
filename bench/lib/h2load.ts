/** Run h2load (nghttp2-client) and read its summary plus per-request latencies from --log-file. */
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { percentile } from './proc.js'

export interface H2loadArgs {
  url: string
  bodyFile: string
  requests: number
  clients: number
  streams: number
  /** Requests per second per client (fixed-rate mode), or 0 for as fast as possible. */
  rps: number
  headers: readonly string[]
  /** Directory for the per-request log file. */
  tmpDir: string
}

export interface H2loadResult {
  reqPerSec: number
  seconds: number
  succeeded: number
  failed: number
  errored: number
  timeout: number
  status2xx: number
  /** Milliseconds, from the per-request log (request start to end of response). */
  p50: number
  p90: number
  p99: number
  max: number
}

export function h2loadArgv (a: H2loadArgs, logFile: string): string[] {
  const argv = ['-n', String(a.requests), '-c', String(a.clients), '-m', String(a.streams), '-d', a.bodyFile]
  for (const h of a.headers) argv.push('-H', h)
  if (a.rps > 0) argv.push('--rps', String(a.rps))
  argv.push('--log-file', logFile, a.url)
  return argv
}

let seq = 0
export async function runH2load (a: H2loadArgs): Promise<H2loadResult> {
  const logFile = join(a.tmpDir, `h2load-${process.pid}-${seq++}.log`)
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('h2load', h2loadArgv(a, logFile), { stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    p.stdout.on('data', (b: Buffer) => { text += b.toString() })
    p.stderr.on('data', (b: Buffer) => { text += b.toString() })
    p.on('error', reject)
    p.on('close', (code) => code === 0 ? resolve(text) : reject(new Error(`h2load exited ${code}: ${text.slice(-500)}`)))
  })
  const fin = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(out)
  const req = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out)
  const st = /status codes: (\d+) 2xx/.exec(out)
  if (fin === null || req === null) throw new Error(`cannot parse h2load output: ${out.slice(-500)}`)
  const lat = readLatencies(logFile)
  rmSync(logFile, { force: true })
  return {
    reqPerSec: Number(fin[3]),
    seconds: Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1),
    succeeded: Number(req[1]),
    failed: Number(req[2]),
    errored: Number(req[3]),
    timeout: Number(req[4]),
    status2xx: st === null ? 0 : Number(st[1]),
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    max: lat.length === 0 ? NaN : lat[lat.length - 1],
  }
}

/** Columns: start (µs since epoch), HTTP status, µs until the end of the response. */
function readLatencies (file: string): Float64Array {
  const text = readFileSync(file, 'utf8')
  const lines = text.split('\n')
  const out = new Float64Array(lines.length)
  let n = 0
  for (const line of lines) {
    const t = line.lastIndexOf('\t')
    if (t === -1) continue
    out[n++] = Number(line.slice(t + 1)) / 1000
  }
  return out.subarray(0, n).sort()
}
