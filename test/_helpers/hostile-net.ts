/**
 * Raw sockets and hand-built HTTP/2 frames for the hostile tests: what an attacker sends,
 * byte for byte, without a client library that would refuse to misbehave. Loopback only;
 * a connection may come from another loopback address (127.0.0.2) so per-source caps can
 * trip without touching the healthy clients on 127.0.0.1.
 */
import { connect, type Socket } from 'node:net'

/** A raw TCP connection that records what it receives and when it closed. */
export class RawConn {
  readonly socket: Socket
  readonly openedAt: number
  /** Date.now() at 'connect' (0 before). */
  connectedAt = 0
  /** Date.now() at 'close' (0 while open). */
  closedAt = 0
  /** The peer reset the connection (ECONNRESET) rather than ending it. */
  reset = false
  readonly chunks: Buffer[] = []
  readonly closed: Promise<number>
  readonly connected: Promise<void>

  constructor (port: number, opts: { localAddress?: string, read?: boolean, first?: Buffer } = {}) {
    this.openedAt = Date.now()
    this.socket = connect({ port, host: '127.0.0.1', localAddress: opts.localAddress })
    // Queued before the connection exists: it leaves with the handshake's ACK, so a loaded test
    // process cannot make the gateway's first-byte bound trip before the bound under test.
    if (opts.first !== undefined) this.socket.write(opts.first)
    this.socket.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.reset = true })
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => { this.connectedAt = Date.now(); resolve() })
      this.socket.once('close', () => reject(new Error('closed before connect')))
    })
    this.connected.catch(() => {})
    this.closed = new Promise(resolve => this.socket.once('close', () => { this.closedAt = Date.now(); resolve(this.closedAt) }))
    if (opts.read !== false) this.socket.on('data', (c: Buffer) => { this.chunks.push(c) })
    else this.socket.pause()
  }

  get isClosed (): boolean { return this.closedAt !== 0 }
  get received (): Buffer { return Buffer.concat(this.chunks) }

  write (b: Buffer | string): void { if (!this.socket.destroyed) this.socket.write(b) }

  /** Close with RST (no FIN): what a port scanner or a crashed client does. */
  rst (): void { if (!this.socket.destroyed) this.socket.resetAndDestroy() }

  destroy (): void { this.socket.destroy() }
}

/** Open `n` connections and wait until all are connected (or refused). */
export async function openMany (port: number, n: number, opts: { localAddress?: string, read?: boolean } = {}): Promise<RawConn[]> {
  const conns = Array.from({ length: n }, () => new RawConn(port, opts))
  await Promise.all(conns.map(c => c.connected.catch(() => {})))
  return conns
}

/** Write `bytes` one byte every `everyMs` until done or the connection closes. */
export async function trickle (c: RawConn, bytes: Buffer, everyMs: number): Promise<void> {
  for (let i = 0; i < bytes.length && !c.isClosed; i++) {
    c.write(bytes.subarray(i, i + 1))
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

// ---------------------------------------------------------------------------------------
// HTTP/2 frames (RFC 9113), built by hand

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
export const H2 = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9,
  END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY_FLAG: 0x20,
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11,
} as const

export function h2Frame (type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(9 + payload.length)
  b.writeUIntBE(payload.length, 0, 3)
  b[3] = type
  b[4] = flags
  b.writeUInt32BE(streamId & 0x7fffffff, 5)
  payload.copy(b, 9)
  return b
}

export function h2Settings (entries: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(entries.length * 6)
  entries.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v, i * 6 + 2) })
  return h2Frame(H2.SETTINGS, 0, 0, p)
}
export const h2SettingsAck = (): Buffer => h2Frame(H2.SETTINGS, H2.ACK, 0)

export function h2RstStream (streamId: number, code: number = H2.CANCEL): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(code)
  return h2Frame(H2.RST_STREAM, 0, streamId, p)
}

export function h2Goaway (lastStreamId: number, code: number): Buffer {
  const p = Buffer.alloc(8)
  p.writeUInt32BE(lastStreamId & 0x7fffffff)
  p.writeUInt32BE(code, 4)
  return h2Frame(H2.GOAWAY, 0, 0, p)
}

export function h2WindowUpdate (streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(increment & 0x7fffffff)
  return h2Frame(H2.WINDOW_UPDATE, 0, streamId, p)
}

export function h2Data (streamId: number, payload: Buffer, endStream = false): Buffer {
  return h2Frame(H2.DATA, endStream ? H2.END_STREAM : 0, streamId, payload)
}

/** DATA frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE) carrying `payload`. */
export function h2DataFrames (streamId: number, payload: Buffer, endStream = false): Buffer {
  const out: Buffer[] = []
  for (let i = 0; i < payload.length || out.length === 0; i += 16384) {
    const part = payload.subarray(i, i + 16384)
    out.push(h2Data(streamId, part, endStream && i + 16384 >= payload.length))
  }
  return Buffer.concat(out)
}

/** HPACK integer with an N-bit prefix (RFC 7541 5.1). */
function hpackInt (value: number, prefixBits: number, firstByte: number): number[] {
  const max = (1 << prefixBits) - 1
  if (value < max) return [firstByte | value]
  const out = [firstByte | max]
  value -= max
  while (value >= 128) { out.push((value & 127) | 128); value = Math.floor(value / 128) }
  out.push(value)
  return out
}

/** An HPACK block of literal fields without indexing, new names, no Huffman: valid for any decoder. */
export function hpack (fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = []
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1')
    const v = Buffer.from(value, 'latin1')
    out.push(0x00, ...hpackInt(n.length, 7, 0), ...n, ...hpackInt(v.length, 7, 0), ...v)
  }
  return Buffer.from(out)
}

export function h2Headers (streamId: number, fields: ReadonlyArray<readonly [string, string]>, endStream = false): Buffer {
  return h2Frame(H2.HEADERS, H2.END_HEADERS | (endStream ? H2.END_STREAM : 0), streamId, hpack(fields))
}

/** Request headers of a gRPC call to `path`. */
export function grpcFields (path: string, extra: ReadonlyArray<readonly [string, string]> = []): Array<readonly [string, string]> {
  return [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'gateway'], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra]
}

/** A gRPC length-prefixed message. */
export function grpcMessage (payload: Buffer): Buffer {
  const b = Buffer.alloc(5 + payload.length)
  b.writeUInt32BE(payload.length, 1)
  payload.copy(b, 5)
  return b
}

/** Protobuf of isthmus.test.EchoRequest: message (1), payload (2), count (3), delay_ms (5). */
export function echoRequest (o: { message?: string, payload?: number, count?: number, delayMs?: number }): Buffer {
  const parts: Buffer[] = []
  const varint = (n: number): Buffer => { const b: number[] = []; while (n >= 128) { b.push((n & 127) | 128); n = Math.floor(n / 128) } b.push(n); return Buffer.from(b) }
  const bytesField = (tag: number, v: Buffer): void => { parts.push(Buffer.from([(tag << 3) | 2]), varint(v.length), v) }
  if (o.message !== undefined) bytesField(1, Buffer.from(o.message))
  if (o.payload !== undefined) bytesField(2, Buffer.alloc(o.payload, 0x61))
  if (o.count !== undefined) parts.push(Buffer.from([3 << 3]), varint(o.count))
  if (o.delayMs !== undefined) parts.push(Buffer.from([5 << 3]), varint(o.delayMs))
  return Buffer.concat(parts)
}

export interface H2FrameView { type: number, flags: number, streamId: number, payload: Buffer }

/** Split received bytes (after the server's preface-less start) into frames; a partial tail is ignored. */
export function parseH2Frames (buf: Buffer): H2FrameView[] {
  const out: H2FrameView[] = []
  let i = 0
  while (i + 9 <= buf.length) {
    const len = buf.readUIntBE(i, 3)
    if (i + 9 + len > buf.length) break
    out.push({ type: buf[i + 3], flags: buf[i + 4], streamId: buf.readUInt32BE(i + 5) & 0x7fffffff, payload: buf.subarray(i + 9, i + 9 + len) })
    i += 9 + len
  }
  return out
}

/** Error code of the first GOAWAY the server sent, or -1. */
export function goawayCode (buf: Buffer): number {
  const g = parseH2Frames(buf).find(f => f.type === H2.GOAWAY)
  return g === undefined ? -1 : g.payload.readUInt32BE(4)
}

/** Error codes of every GOAWAY the server sent, in order. */
export function goawayCodes (buf: Buffer): number[] {
  return parseH2Frames(buf).filter(f => f.type === H2.GOAWAY && f.payload.length >= 8).map(f => f.payload.readUInt32BE(4))
}

/** Streams the server reset, with their codes. */
export function rstCodes (buf: Buffer): Map<number, number> {
  const m = new Map<number, number>()
  for (const f of parseH2Frames(buf)) if (f.type === H2.RST_STREAM) m.set(f.streamId, f.payload.readUInt32BE(0))
  return m
}

// ---------------------------------------------------------------------------------------
// gRPC over a node:http2 client session (for paths the typed grpc-js client does not know)

export interface H2CallResult {
  /** HTTP :status (0 when none arrived). */
  status: number
  /** grpc-status from trailers or Trailers-Only headers (-1 when none). */
  grpcStatus: number
  grpcMessage: string
  /** RST_STREAM code when the stream was reset (0 when it ended cleanly). */
  rstCode: number
  body: Buffer
  sentAt: number
  endedAt: number
}

/** One gRPC call on `session` (opened by the caller); resolves when the stream closes. */
export function h2Call (session: import('node:http2').ClientHttp2Session, path: string, message: Buffer, headers: Record<string, string> = {}): Promise<H2CallResult> {
  return new Promise((resolve) => {
    const out: H2CallResult = { status: 0, grpcStatus: -1, grpcMessage: '', rstCode: 0, body: Buffer.alloc(0), sentAt: Date.now(), endedAt: 0 }
    const chunks: Buffer[] = []
    const take = (h: Record<string, unknown>): void => {
      if (h['grpc-status'] !== undefined) out.grpcStatus = Number(h['grpc-status'])
      if (typeof h['grpc-message'] === 'string') out.grpcMessage = decodeURIComponent(h['grpc-message'])
    }
    let req: import('node:http2').ClientHttp2Stream
    try {
      req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers })
    } catch {
      out.endedAt = Date.now()
      resolve(out)
      return
    }
    req.on('response', (h) => { out.status = Number(h[':status'] ?? 0); take(h) })
    req.on('trailers', (h) => take(h))
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => {})
    req.on('close', () => {
      out.rstCode = req.rstCode ?? 0
      out.body = Buffer.concat(chunks)
      out.endedAt = Date.now()
      resolve(out)
    })
    req.end(grpcMessage(message))
  })
}

// ---------------------------------------------------------------------------------------
// An HTTP/2 upstream that holds every stream until released

export interface HoldingUpstream {
  readonly port: number
  /** Streams opened so far. */
  opened: number
  /** Streams open now, and the most ever open at once. */
  open: number
  maxOpen: number
  /** Answer every held stream with grpc-status 0 (and every later one at once). */
  release (): void
  close (): Promise<void>
}

export async function startHoldingUpstream (): Promise<HoldingUpstream> {
  const { createServer } = await import('node:http2')
  const server = createServer()
  const held: Array<import('node:http2').ServerHttp2Stream> = []
  const sessions = new Set<import('node:http2').ServerHttp2Session>()
  let released = false
  const answer = (s: import('node:http2').ServerHttp2Stream): void => {
    if (s.destroyed || s.closed) return
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }))
    s.end(grpcMessage(Buffer.alloc(0)))
  }
  const up: HoldingUpstream = {
    port: 0, opened: 0, open: 0, maxOpen: 0,
    release () { released = true; for (const s of held.splice(0)) answer(s) },
    close: () => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()) }),
  }
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); s.on('error', () => {}) })
  server.on('stream', (stream) => {
    up.opened++
    up.open++
    if (up.open > up.maxOpen) up.maxOpen = up.open
    stream.on('close', () => { up.open-- })
    stream.on('error', () => {})
    stream.resume()
    if (released) answer(stream); else held.push(stream)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  // Created at a test file's top level: never what keeps the worker alive (a --match that skips the file's tests).
  server.unref()
  ;(up as { port: number }).port = (server.address() as import('node:net').AddressInfo).port
  return up
}

/** Close an HTTP/2 client session and wait until its socket is gone. */
export function closeSession (s: import('node:http2').ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) { resolve(); return }
    s.once('close', () => resolve())
    s.close()
    setTimeout(() => s.destroy(), 2000).unref()
  })
}
