/**
 * A raw node:http2 upstream whose every response shape is chosen per test: lets tests check
 * exact frames (END_STREAM vs RST_STREAM, Trailers-Only, no trailers) that grpc-js hides.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'

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
  /** RST_STREAM code the client saw (0 when the stream ended cleanly with END_STREAM). */
  rstCode: number
  /** True when the response ended with END_STREAM (the 'end' event fired). */
  ended: boolean
}

/** One request over a fresh h2c session; reports how the stream ended. */
export function rawRequest (port: number, headers: Record<string, string>, body: Buffer | null): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const req = session.request({ ':method': 'POST', ...headers }, { endStream: body === null })
    const out: RawResponse = { headers: {}, trailers: null, body: Buffer.alloc(0), rstCode: 0, ended: false }
    const chunks: Buffer[] = []
    req.on('response', (h) => { out.headers = h })
    req.on('trailers', (h) => { out.trailers = h })
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { out.ended = true })
    req.on('error', () => {})
    req.on('close', () => {
      out.rstCode = req.rstCode ?? 0
      out.body = Buffer.concat(chunks)
      session.close()
      resolve(out)
    })
    if (body !== null) req.end(body)
  })
}

/** A gRPC length-prefixed frame. */
export function grpcFrame (payload: Buffer, compressed = false): Buffer {
  const b = Buffer.alloc(5 + payload.length)
  b[0] = compressed ? 1 : 0
  b.writeUInt32BE(payload.length, 1)
  payload.copy(b, 5)
  return b
}
