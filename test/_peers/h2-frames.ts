/**
 * Raw HTTP/2 frames for hostile-client tests: bytes written on a plain `net` socket, so a
 * test can send what no well-behaved client library would (HEADERS + RST_STREAM in one write,
 * GOAWAY with an error right after the preface, trickled prefaces...). HPACK is the
 * literal-without-indexing form only: enough to open streams.
 */
import net from 'node:net'

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const
export const Flag = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const

export function frame (type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(9 + payload.length)
  b.writeUIntBE(payload.length, 0, 3)
  b[3] = type
  b[4] = flags
  b.writeUInt32BE(streamId & 0x7fffffff, 5)
  payload.copy(b, 9)
  return b
}

/** HPACK integer with an N-bit prefix (RFC 7541 5.1). */
function hpackInt (value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([firstByte | value])
  const out = [firstByte | max]
  value -= max
  while (value >= 128) { out.push((value & 0x7f) | 0x80); value >>>= 7 }
  out.push(value)
  return Buffer.from(out)
}

function literal (name: string, value: string): Buffer {
  const n = Buffer.from(name)
  const v = Buffer.from(value)
  return Buffer.concat([Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v])
}

/** A header block: pseudo-headers first, every field a literal. */
export function headerBlock (headers: Record<string, string>): Buffer {
  return Buffer.concat(Object.entries(headers).map(([k, v]) => literal(k, v)))
}

export function settings (values: Record<number, number> = {}): Buffer {
  const entries = Object.entries(values)
  const p = Buffer.alloc(entries.length * 6)
  entries.forEach(([id, v], i) => { p.writeUInt16BE(Number(id), i * 6); p.writeUInt32BE(v, i * 6 + 2) })
  return frame(FrameType.SETTINGS, 0, 0, p)
}
export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0)

export function headers (streamId: number, h: Record<string, string>, endStream = false): Buffer {
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, headerBlock(h))
}

export function data (streamId: number, payload: Buffer, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload)
}

export function rstStream (streamId: number, code = 8 /* CANCEL */): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(code)
  return frame(FrameType.RST_STREAM, 0, streamId, p)
}

export function goaway (lastStreamId: number, code: number): Buffer {
  const p = Buffer.alloc(8)
  p.writeUInt32BE(lastStreamId & 0x7fffffff)
  p.writeUInt32BE(code, 4)
  return frame(FrameType.GOAWAY, 0, 0, p)
}

export function windowUpdate (streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(increment)
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p)
}

/** Request headers of a gRPC call to `path`. */
export function grpcRequest (path: string): Record<string, string> {
  return { ':method': 'POST', ':scheme': 'http', ':path': path, ':authority': 'gateway', 'content-type': 'application/grpc', te: 'trailers' }
}

/** A raw socket that never throws (errors recorded) and collects what the server sent. */
export interface RawConn {
  readonly socket: net.Socket
  readonly received: () => Buffer
  /** Resolves when the socket closed (either side). */
  readonly closed: Promise<void>
  isClosed (): boolean
}

export function rawConnect (port: number): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let closed = false
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => {})
    const closedP = new Promise<void>(r => socket.on('close', () => { closed = true; r() }))
    socket.once('connect', () => resolve({ socket, received: () => Buffer.concat(chunks), closed: closedP, isClosed: () => closed }))
    socket.once('error', reject)
  })
}

export interface ParsedFrame { type: number, flags: number, streamId: number, payload: Buffer }

/** Split server bytes into frames (the server sends no preface, only frames). */
export function parseFrames (buf: Buffer): ParsedFrame[] {
  const out: ParsedFrame[] = []
  let o = 0
  while (o + 9 <= buf.length) {
    const len = buf.readUIntBE(o, 3)
    if (o + 9 + len > buf.length) break
    out.push({ type: buf[o + 3], flags: buf[o + 4], streamId: buf.readUInt32BE(o + 5) & 0x7fffffff, payload: buf.subarray(o + 9, o + 9 + len) })
    o += 9 + len
  }
  return out
}

/** GOAWAY error code the server sent, or -1. */
export function goawayCode (buf: Buffer): number {
  const g = parseFrames(buf).find(f => f.type === FrameType.GOAWAY)
  return g === undefined ? -1 : g.payload.readUInt32BE(4)
}

/** RST_STREAM codes the server sent, by stream. */
export function rstCodes (buf: Buffer): Map<number, number> {
  const m = new Map<number, number>()
  for (const f of parseFrames(buf)) if (f.type === FrameType.RST_STREAM) m.set(f.streamId, f.payload.readUInt32BE(0))
  return m
}
