/**
 * A raw node:http2 upstream whose every response shape is chosen per test: lets tests check
 * exact frames (END_STREAM vs RST_STREAM, Trailers-Only, no trailers) that grpc-js hides.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

export type RawHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer) => void

export interface RawH2Server {
  readonly port: number
  readonly requests: IncomingHttpHeaders[]
  /** HTTP/2 connections accepted so far. */
  readonly sessions: () => number
  close (): Promise<void>
}

export async function startRawH2 (handler: RawHandler): Promise<RawH2Server> {
  const server = http2.createServer()
  const requests: IncomingHttpHeaders[] = []
  const sessions = new Set<http2.ServerHttp2Session>()
  let accepted = 0
  server.on('session', (s) => { accepted++; sessions.add(s); s.on('close', () => sessions.delete(s)) })
  server.on('stream', (stream, headers) => {
    requests.push(headers)
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => handler(stream, headers, Buffer.concat(chunks)))
    stream.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    sessions: () => accepted,
    close: () => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()) }),
  }
}

export interface RawResponse {
  headers: IncomingHttpHeaders
  trailers: IncomingHttpHeaders | null
  body: Buffer
  /** Code of the RST_STREAM frame the server sent on the request's stream; null when none. */
  rstCode: number | null
  /** True when the server set END_STREAM on a HEADERS or DATA frame of the request's stream. */
  ended: boolean
}

/**
 * Frames the server sends, read off the wire between the client and the server: node:http2
 * reports an RST_STREAM(NO_ERROR) after the data exactly like END_STREAM ('end', rstCode 0),
 * so the tests that tell them apart look at the frame headers (9 bytes: length, type, flags,
 * stream id; RFC 9113 section 4.1). Only headers are read; payloads are skipped.
 */
class FrameWatch {
  readonly endStream = new Set<number>()
  readonly rst = new Map<number, number>()
  #buf: Buffer = Buffer.alloc(0)

  push (chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3)
      if (this.#buf.length < 9 + len) return
      const type = this.#buf[3]
      const flags = this.#buf[4]
      const stream = this.#buf.readUInt32BE(5) & 0x7fffffff
      if ((type === 0x0 || type === 0x1) && (flags & 0x1) !== 0) this.endStream.add(stream)
      if (type === 0x3 && len >= 4) this.rst.set(stream, this.#buf.readUInt32BE(9))
      this.#buf = this.#buf.subarray(9 + len)
    }
  }
}

/** A TCP relay to 127.0.0.1:port that feeds the server-to-client bytes to a FrameWatch. */
async function watchedRelay (port: number): Promise<{ port: number, watch: FrameWatch, close (): void }> {
  const watch = new FrameWatch()
  const sockets: Socket[] = []
  const relay = createServer((down) => {
    const up = connect(port, '127.0.0.1')
    sockets.push(down, up)
    down.on('error', () => up.destroy())
    up.on('error', () => down.destroy())
    up.on('data', (c: Buffer) => { watch.push(c) })
    down.pipe(up)
    up.pipe(down)
  })
  await new Promise<void>(resolve => relay.listen(0, '127.0.0.1', resolve))
  return { port: (relay.address() as AddressInfo).port, watch, close: () => { for (const s of sockets) s.destroy(); relay.close() } }
}

/** One request over a fresh h2c session; reports how the stream ended, frame by frame. */
export async function rawRequest (port: number, headers: Record<string, string>, body: Buffer | null): Promise<RawResponse> {
  const relay = await watchedRelay(port)
  try {
    return await new Promise<RawResponse>((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${relay.port}`)
      session.on('error', reject)
      const req = session.request({ ':method': 'POST', ...headers }, { endStream: body === null })
      const out: RawResponse = { headers: {}, trailers: null, body: Buffer.alloc(0), rstCode: null, ended: false }
      const chunks: Buffer[] = []
      req.on('response', (h) => { out.headers = h })
      req.on('trailers', (h) => { out.trailers = h })
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('error', () => {})
      req.on('close', () => {
        const id = req.id ?? 1
        out.ended = relay.watch.endStream.has(id)
        out.rstCode = relay.watch.rst.get(id) ?? null
        out.body = Buffer.concat(chunks)
        session.close()
        resolve(out)
      })
      if (body !== null) req.end(body)
    })
  } finally {
    relay.close()
  }
}

/** A gRPC length-prefixed frame. */
export function grpcFrame (payload: Buffer, compressed = false): Buffer {
  const b = Buffer.alloc(5 + payload.length)
  b[0] = compressed ? 1 : 0
  b.writeUInt32BE(payload.length, 1)
  payload.copy(b, 5)
  return b
}
