/**
 * A raw TCP Bolt upstream for tests: records every frame it receives byte for byte and
 * answers requests with a fixed hessian response in the request's version (sofa-bolt-node
 * encoder), heartbeats with an ack. Switches let a test silence heartbeats or responses.
 */
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net'
import { BoltDecoder } from '../../gateway/protocol/bolt/decoder.js'
import type { BoltFrame } from '../../gateway/protocol/bolt/command.js'
import { encodeHeartbeatAck } from '../../gateway/protocol/bolt/encoder.js'
import { responseFrame, type BoltVersion } from '../_helpers/bolt-frames.js'

export interface RawUpstream {
  port: number
  server: Server
  /** Request frames received (copies). */
  requests: BoltFrame[]
  /** performance-free timestamps (Date.now()) of heartbeats received. */
  heartbeats: number[]
  sockets: Set<Socket>
  answerHeartbeats: boolean
  answerRequests: boolean
  /** What each response carries (default 'pong'); a long string makes big responses. */
  responseValue: unknown
  /** Request frames seen (counted even when not copied into `requests`). */
  received: number
  /** Keep a copy of every request in `requests` (off for bulk tests). */
  record: boolean
  /** Answer each request this many ms late (0: at once): a slow upstream. */
  answerDelayMs: number
  /** New connections start paused (not read) until `resumeReading()`: a slow reader. */
  startPaused: boolean
  resumeReading (): void
  close (): Promise<void>
}

export async function startRawUpstream (): Promise<RawUpstream> {
  const sockets = new Set<Socket>()
  const up: RawUpstream = {
    port: 0, server: createServer(), requests: [], heartbeats: [], sockets,
    answerHeartbeats: true, answerRequests: true, answerDelayMs: 0, responseValue: 'pong', received: 0, record: true, startPaused: false,
    resumeReading: () => { up.startPaused = false; for (const s of sockets) s.resume() },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => up.server.close(() => resolve()))
    },
  }
  up.server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    const d = new BoltDecoder({
      onBoltFrame (f) {
        if (f.cmd === 0 && f.type === 1) {
          up.heartbeats.push(Date.now())
          if (up.answerHeartbeats) s.write(encodeHeartbeatAck(f))
          return
        }
        if (f.type === 0) return
        up.received++
        if (up.record) up.requests.push(copy(f))
        if (f.type === 2 || !up.answerRequests) return
        const v: BoltVersion = f.proto === 1 ? 'v1' : f.hasCrc ? 'v2crc' : 'v2'
        const res = responseFrame(f.requestId, up.responseValue, v)
        if (up.answerDelayMs > 0) setTimeout(() => { if (!s.destroyed) s.write(res) }, up.answerDelayMs).unref()
        else s.write(res)
      },
      onBoltCodecError () { s.destroy() },
    })
    s.on('data', (c: Buffer) => d.push(c))
    if (up.startPaused) s.pause()
  })
  await new Promise<void>(resolve => up.server.listen(0, '127.0.0.1', () => resolve()))
  up.port = (up.server.address() as AddressInfo).port
  return up
}

function copy (f: BoltFrame): BoltFrame {
  const b = Buffer.from(f.buf)
  return Object.assign(Object.create(Object.getPrototypeOf(f) as object) as BoltFrame, f, { buf: b })
}
