/**
 * The speed reference for the Triple bench: the least a node:http2 proxy can do, and still be
 * correct. One pooled upstream session (reopened if it dies), manual data forwarding with
 * backpressure (no `pipe`), module-level handlers (no closures per stream), trailers and
 * Trailers-Only forwarded, RST codes passed both ways.
 *
 * A response without trailers (Triple unary) ends with END_STREAM (an empty DATA frame with
 * the flag, which node sends for empty trailers), never RST_STREAM(NO_ERROR): the proxy always
 * asks for `waitForTrailers` and sends whatever trailers arrived, possibly none.
 *
 * Run as a child: `tsx bench/bare-passthrough.ts <listenPort> <upstreamPort>`; prints `ready`.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = http2.constants
const END_STREAM = 1

const kPeer = Symbol('peer')
const kTrailers = Symbol('trailers')
type Down = ServerHttp2Stream & { [kPeer]: Up | null }
type Up = ClientHttp2Stream & { [kPeer]: Down, [kTrailers]: IncomingHttpHeaders | null }

let upstreamUrl = ''
let session: ClientHttp2Session | null = null

function upstream (): ClientHttp2Session {
  if (session === null || session.closed || session.destroyed) {
    const s = http2.connect(upstreamUrl, { settings: { initialWindowSize: 1 << 20, enablePush: false } })
    s.on('error', noop)
    s.on('close', () => { if (session === s) session = null })
    s.setMaxListeners(0)
    session = s
  }
  return session
}

function onStream (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
  const down = stream as Down
  const endStream = (flags & END_STREAM) !== 0
  const up = upstream().request(headers as OutgoingHttpHeaders, { endStream }) as Up
  up[kPeer] = down
  up[kTrailers] = null
  down[kPeer] = up
  up.on('response', onUpResponse)
  up.on('trailers', onUpTrailers)
  up.on('data', onUpData)
  up.on('end', onUpEnd)
  up.on('close', onUpClose)
  up.on('error', noop)
  up.on('drain', onUpDrain)
  down.on('error', noop)
  down.on('close', onDownClose)
  if (!endStream) {
    down.on('data', onDownData)
    down.on('end', onDownEnd)
    down.on('drain', onDownDrain)
  }
}

function onUpResponse (this: Up, headers: IncomingHttpHeaders, flags: number): void {
  const down = this[kPeer]
  if (down.destroyed) return
  if ((flags & END_STREAM) !== 0) { down.respond(headers as OutgoingHttpHeaders, { endStream: true }); return } // Trailers-Only
  down.respond(headers as OutgoingHttpHeaders, { waitForTrailers: true })
  down.on('wantTrailers', onWantTrailers)
}

function onUpTrailers (this: Up, trailers: IncomingHttpHeaders): void { this[kTrailers] = trailers }

function onUpData (this: Up, chunk: Buffer): void {
  const down = this[kPeer]
  if (down.destroyed) return
  if (!down.write(chunk)) this.pause()
}

function onUpEnd (this: Up): void {
  const down = this[kPeer]
  if (!down.destroyed && down.headersSent && !down.writableEnded) down.end()
}

function onWantTrailers (this: Down): void {
  const up = this[kPeer]
  this.sendTrailers((up?.[kTrailers] ?? {}) as OutgoingHttpHeaders)
}

function onUpClose (this: Up): void {
  const down = this[kPeer]
  const code = this.rstCode ?? NGHTTP2_NO_ERROR
  if (down.destroyed || down.closed) return
  if (code !== NGHTTP2_NO_ERROR) down.close(code)
  else if (!down.headersSent) down.close(NGHTTP2_INTERNAL_ERROR) // upstream ended without a response
}

function onUpDrain (this: Up): void { this[kPeer].resume() }
function onDownDrain (this: Down): void { this[kPeer]?.resume() }

function onDownData (this: Down, chunk: Buffer): void {
  const up = this[kPeer]
  if (up !== null && !up.write(chunk)) this.pause()
}

function onDownEnd (this: Down): void {
  const up = this[kPeer]
  if (up !== null && !up.writableEnded) up.end()
}

function onDownClose (this: Down): void {
  const up = this[kPeer]
  this[kPeer] = null
  if (up !== null && !up.closed && !up.destroyed && !up.readableEnded) up.close(this.rstCode !== undefined && this.rstCode !== NGHTTP2_NO_ERROR ? this.rstCode : NGHTTP2_CANCEL)
}

function noop (): void {}

export function startBarePassthrough (port: number, upstreamPort: number): Promise<http2.Http2Server> {
  upstreamUrl = `http://127.0.0.1:${upstreamPort}`
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000, initialWindowSize: 1 << 20 } })
  server.on('stream', onStream)
  server.on('session', (s) => { s.on('error', noop) })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

if (process.argv[1]?.endsWith('bare-passthrough.ts') === true) {
  const server = await startBarePassthrough(Number(process.argv[2] ?? 0), Number(process.argv[3]))
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`)
  process.on('SIGTERM', () => { server.close(); session?.close(); process.exit(0) })
}
