/**
 * Bolt load client: `conns` connections each keeping `depth` requests in flight for
 * `durationMs`; a v1 SofaRequest frame as sofa-bolt-node encodes echo(string), plus an LDC
 * uid key.
 * Write styles: 'frame' writes each request frame on its own; 'batch' writes, per response read,
 * every frame it may now send in ONE socket write (as a pipelining SOFA client under load does).
 * With depth 1 the two are the same.
 * Returns completed requests, req/s, p99 latency (ms) and errors.
 */
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { encodeFrame } from '../gateway/protocol/bolt/encoder.js'
import { encodeHeaderMap } from '../gateway/protocol/bolt/header-view.js'
import { boltRequest } from '../test/_helpers/hostile-bolt.js'

export interface LoadResult { requests: number, rps: number, p99Ms: number, errors: number }
export type WriteStyle = 'frame' | 'batch'
export interface LoadOptions {
  style?: WriteStyle
  /** Called when the measured window opens and closes (after the 300 ms warm-up): sample CPU here. */
  onWindowStart?: () => void
  onWindowEnd?: () => void
}

/**
 * sofa-bolt-node's own encoding of echo(<string>) (header map and hessian2 content as
 * sofa-rpc-node writes them: the gateway checks the content before forwarding), with the LDC
 * uid key appended to its header map (read by the governance chain only; every target gets the
 * same frame): 354 bytes (issue 13 measured a 323-byte frame with 128 bytes of filler content).
 */
function template (): Buffer {
  const build = (arg: string): Buffer => {
    const real = boltRequest({ id: 0, service: 'com.example.EchoService:1.0', method: 'echo', args: [arg], timeout: 3000 })
    const classLen = real.readUInt16BE(14)
    const headerLen = real.readUInt16BE(16)
    const at = 22 + classLen
    return encodeFrame({
      proto: 1, type: 1, cmd: 1, requestId: 0, timeout: 3000, className: real.subarray(22, at).toString('latin1'),
      header: Buffer.concat([real.subarray(at, at + headerLen), encodeHeaderMap(new Map([['x-ldc-uid', '2088000012345']]))]),
      content: real.subarray(at + headerLen),
    })
  }
  return build('hello, isthmus')
}
/** The request frame every load client sends (also bench/bolt-decode-cost.ts). */
export const TEMPLATE = template()
const FRAME = TEMPLATE.length

/** `ids.length` request frames back to back in one buffer, each with its id. */
function frames (ids: number[]): Buffer {
  const b = Buffer.allocUnsafe(FRAME * ids.length)
  for (let i = 0; i < ids.length; i++) { TEMPLATE.copy(b, i * FRAME); b.writeUInt32BE(ids[i], i * FRAME + 5) }
  return b
}

export async function runLoad (port: number, conns: number, depth: number, durationMs: number, opts: LoadOptions = {}): Promise<LoadResult> {
  const batch = opts.style === 'batch'
  const lat = new Float64Array(4_000_000)
  let n = 0
  let errors = 0
  let stop = false
  const sockets: Socket[] = []
  const done: Array<Promise<void>> = []
  let warm = true
  for (let c = 0; c < conns; c++) {
    const s = connect({ port, host: '127.0.0.1', noDelay: true })
    sockets.push(s)
    const sent = new Float64Array(depth + 1)
    let pending: Buffer | null = null
    const ready: number[] = []
    const send = (slot: number): void => {
      sent[slot] = performance.now()
      if (batch) { ready.push(slot); return }
      const b = Buffer.from(TEMPLATE)
      b.writeUInt32BE(slot, 5)
      s.write(b)
    }
    const flush = (): void => { if (ready.length > 0) { s.write(frames(ready)); ready.length = 0 } }
    done.push(new Promise<void>((resolve) => {
      s.on('connect', () => { for (let slot = 1; slot <= depth; slot++) send(slot); flush() })
      s.on('data', (chunk: Buffer) => {
        const buf = pending === null ? chunk : Buffer.concat([pending, chunk])
        pending = null
        let o = 0
        while (buf.length - o >= 20) {
          const total = 20 + buf.readInt16BE(o + 12) + buf.readInt16BE(o + 14) + buf.readInt32BE(o + 16)
          if (buf.length - o < total) break
          const id = buf.readUInt32BE(o + 5)
          if (buf.readUInt16BE(o + 10) !== 0) errors++
          if (!warm && n < lat.length) lat[n++] = performance.now() - sent[id]
          o += total
          if (!stop) send(id)
        }
        if (o < buf.length) pending = buf.subarray(o)
        flush()
      })
      s.on('error', () => { errors++; resolve() })
      s.on('close', () => resolve())
    }))
  }
  await new Promise(resolve => setTimeout(resolve, 300))
  warm = false
  opts.onWindowStart?.()
  const t0 = performance.now()
  const n0 = n
  await new Promise(resolve => setTimeout(resolve, durationMs))
  const count = n - n0
  const elapsed = performance.now() - t0
  opts.onWindowEnd?.()
  stop = true
  const sorted = lat.slice(0, n).sort()
  for (const s of sockets) s.destroy()
  await Promise.all(done)
  return { requests: count, rps: count / (elapsed / 1000), p99Ms: sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length * 0.99)], errors }
}
