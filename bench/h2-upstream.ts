/**
 * Bench upstream: a minimal node:http2 gRPC-ish server. Every call gets a 100-byte gRPC
 * response (5-byte prefix + 95 bytes) and trailers `grpc-status: 0`, once the request ended.
 * A path ending in `/NoTrailers` answers like Triple unary instead (application/json body, no
 * trailers, END_STREAM on the last DATA frame): the bench uses it to check each proxy ends such
 * a response correctly.
 *
 * Run as a child: `tsx bench/h2-upstream.ts <port>`; prints `ready <port>` on stdout.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'

export const RESPONSE = grpcFrame(95)
const NO_TRAILERS_BODY = Buffer.from(JSON.stringify({ message: 'x'.repeat(80) }))

/** A gRPC message: 1 byte compressed flag, 4 bytes big-endian length, then `n` bytes. */
export function grpcFrame (n: number): Buffer {
  const b = Buffer.alloc(5 + n, 0x61)
  b[0] = 0
  b.writeUInt32BE(n, 1)
  return b
}

const GRPC_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' })
const JSON_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/json' })
const TRAILERS = Object.freeze({ 'grpc-status': '0' })
const kPlain = Symbol('plain')
type Stream = ServerHttp2Stream & { [kPlain]: boolean }

function onStream (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const s = stream as Stream
  const path = headers[':path']
  s[kPlain] = typeof path === 'string' && path.endsWith('/NoTrailers')
  s.on('error', noop)
  s.on('end', onRequestEnd)
  s.resume()
}

function onRequestEnd (this: Stream): void {
  if (this.destroyed || this.closed) return
  if (this[kPlain]) {
    this.respond(JSON_HEADERS)
    this.end(NO_TRAILERS_BODY)
    return
  }
  this.respond(GRPC_HEADERS, { waitForTrailers: true })
  this.on('wantTrailers', onWantTrailers)
  this.end(RESPONSE)
}

function onWantTrailers (this: Stream): void { this.sendTrailers(TRAILERS) }
function noop (): void {}

export function startUpstream (port: number): Promise<http2.Http2Server> {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 10000, initialWindowSize: 1 << 20 } })
  server.on('stream', onStream)
  server.on('session', (s) => { s.on('error', noop) })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

if (process.argv[1]?.endsWith('h2-upstream.ts') === true) {
  const server = await startUpstream(Number(process.argv[2] ?? 0))
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`)
  process.on('SIGTERM', () => { server.close(); process.exit(0) })
}
