import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import http2, { type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import net, { type AddressInfo, type Socket } from 'node:net'
import tls, { type TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import { peerIdentityOfSocket } from '../../certs/identity.js'
import type { TlsMaterial } from '../../certs/tls-material.js'
import type { PeerIdentity } from '../call/identity.js'
import type { TripleListenerOptions } from '../config/options.js'
import type { SnapshotRef } from '../config/snapshot.js'
import { downstreamConnections } from '../metrics.js'
import { kCall, TripleCall, tagStream, type TripleDeps } from '../proxy/triple-call.js'
import type { H2PoolRegistry } from '../upstream/h2-pool-registry.js'
import { DeadlineWheel } from '../util/deadline-wheel.js'

export interface TripleListenerDeps {
  readonly snapshot: SnapshotRef
  readonly logger: Logger
  readonly pools: H2PoolRegistry
  readonly tls: TlsMaterial | null
}

const kPeer = Symbol('isthmus.peer')
const kBusy = Symbol('isthmus.busy')
const kRemote = Symbol('isthmus.remote')
type Session = ServerHttp2Session & { [kPeer]: PeerIdentity | null, [kRemote]: string }
type Stream = ServerHttp2Stream & { [kCall]: TripleCall }
// HTTP/1.1 sockets handed to a server that never listens are not tracked by node
// (closeIdleConnections does nothing), so the listener counts requests in flight itself.
type H1Socket = Socket & { [kBusy]: number }

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
const LABELS = Object.freeze({ listener: 'triple' })

/**
 * The Triple listener: gRPC and Triple over HTTP/2 (h2c, or TLS with ALPN h2), and Triple
 * unary over HTTP/1.1 (ALPN http/1.1 on TLS; on plain TCP the connection preface decides).
 * One front server accepts; HTTP/2 and HTTP/1.1 servers that never listen handle the
 * connections handed to them. HTTP/2 streams use the core API (no compat objects).
 */
export class TripleListener {
  readonly options: Readonly<TripleListenerOptions>
  readonly #deps: TripleListenerDeps
  readonly #front: net.Server | tls.Server
  readonly #h2: Http2Server
  readonly #h1: http.Server
  readonly #callDeps: TripleDeps
  readonly #sessions = new Set<Session>()
  readonly #h1Sockets = new Set<Socket>()
  #draining = false
  #closing: Promise<void> | null = null

  constructor (options: Readonly<TripleListenerOptions>, deps: TripleListenerDeps) {
    this.options = options
    this.#deps = deps
    this.#callDeps = {
      pools: deps.pools,
      logger: deps.logger,
      deadlines: new DeadlineWheel<TripleCall>(onExpire),
    }
    const l = options.http2
    this.#h2 = http2.createServer({
      settings: {
        maxConcurrentStreams: l.maxConcurrentStreams,
        maxHeaderListSize: l.maxHeaderListSize,
        initialWindowSize: l.initialWindowSize,
        enablePush: false,
      },
      maxSessionMemory: l.maxSessionMemory,
    })
    this.#h2.on('session', (s: ServerHttp2Session) => this.#onSession(s as Session))
    this.#h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => this.#onStream(stream as Stream, headers, flags))
    this.#h1 = http.createServer({ maxHeaderSize: l.maxHeaderListSize })
    this.#h1.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onHttp1(req, res))
    this.#h1.on('clientError', (_err: Error, socket: Socket) => { if (!socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n') })

    if (deps.tls !== null) {
      const front = tls.createServer({
        ...deps.tls.secureContextOptions(),
        ALPNProtocols: options.http1 ? ['h2', 'http/1.1'] : ['h2'],
      })
      front.on('secureConnection', (socket: TLSSocket) => this.#dispatchTls(socket))
      front.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        deps.logger.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed')
      })
      deps.tls.attach(front)
      this.#front = front
    } else {
      this.#front = net.createServer((socket) => this.#dispatchPlain(socket))
    }
    this.#front.on('error', (err: Error) => deps.logger.error({ err: err.message }, 'triple listener error'))
  }

  listen (): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#front.once('error', reject)
      this.#front.listen(this.options.port, this.options.host, () => {
        this.#front.off('error', reject)
        resolve(this.#front.address() as AddressInfo)
      })
    })
  }

  get address (): AddressInfo | null { return this.#front.address() as AddressInfo | null }

  #dispatchPlain (socket: Socket): void {
    if (this.#draining) { socket.destroy(); return }
    socket.setNoDelay(true)
    if (!this.options.http1) { this.#h2.emit('connection', socket); return }
    // Sniff the first bytes: the HTTP/2 preface means h2c prior knowledge, else HTTP/1.1.
    socket.once('data', (chunk: Buffer) => {
      socket.pause()
      socket.unshift(chunk)
      const n = Math.min(chunk.length, H2_PREFACE.length)
      if (chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) this.#h2.emit('connection', socket)
      else { this.#toHttp1(socket); socket.resume() }
    })
  }

  #dispatchTls (socket: TLSSocket): void {
    if (this.#draining || socket.destroyed) { socket.destroy(); return }
    socket.setNoDelay(true)
    if (socket.alpnProtocol === 'h2') this.#h2.emit('connection', socket)
    else if (this.options.http1) this.#toHttp1(socket)
    else socket.destroy()
  }

  #toHttp1 (socket: Socket): void {
    (socket as H1Socket)[kBusy] = 0
    this.#h1Sockets.add(socket)
    downstreamConnections.inc(LABELS)
    socket.once('close', () => { this.#h1Sockets.delete(socket); downstreamConnections.dec(LABELS) })
    this.#h1.emit('connection', socket)
  }

  #onSession (s: Session): void {
    const socket = s.socket as Socket
    s[kRemote] = socket.remoteAddress ?? ''
    s[kPeer] = (socket as TLSSocket).encrypted === true ? peerIdentityOfSocket(socket as TLSSocket) : null
    this.#sessions.add(s)
    downstreamConnections.inc(LABELS)
    // A connection-level window as large as the stream window: one busy stream should not
    // starve the others.
    s.on('connect', () => { try { s.setLocalWindowSize(Math.max(this.options.http2.initialWindowSize, 65535)) } catch {} })
    s.on('close', () => { this.#sessions.delete(s); downstreamConnections.dec(LABELS) })
    s.on('error', () => {})
    if (this.#draining) s.close()
  }

  #onStream (stream: Stream, headers: IncomingHttpHeaders, flags: number): void {
    const session = stream.session as Session
    const call = new TripleCall(this.#deps.snapshot.current, this.#callDeps, headers, session[kRemote], stream, null, null, (flags & 1) !== 0)
    call.peer = session[kPeer]
    stream[kCall] = call
    stream.on('close', onDownClose)
    stream.on('error', noop)
    call.begin()
  }

  #onHttp1 (req: IncomingMessage, res: ServerResponse): void {
    const headers = req.headers as IncomingHttpHeaders
    headers[':path'] = req.url
    headers[':method'] = req.method
    const socket = req.socket as TLSSocket
    const ended = req.method === 'GET' || req.method === 'HEAD' || req.headers['content-length'] === '0'
    const call = new TripleCall(this.#deps.snapshot.current, this.#callDeps, headers, socket.remoteAddress ?? '', null, req, res, ended)
    call.peer = socket.encrypted === true ? peerIdentityOfSocket(socket) : null
    tagStream(req, call)
    tagStream(res, call)
    res.on('close', onH1Close)
    const s = req.socket as H1Socket
    s[kBusy]++
    res.on('close', () => { s[kBusy]--; if (this.#draining && s[kBusy] === 0) s.end() })
    if (this.#draining) res.setHeader('connection', 'close')
    call.begin()
  }

  /**
   * Graceful: stop accepting, GOAWAY every HTTP/2 session, let in-flight calls finish up to
   * `timeoutMs`, then destroy what is left. Idempotent.
   */
  close (timeoutMs = 25000): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#draining = true
    this.#closing = new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); resolve() }
      const timer = setTimeout(() => { this.destroy(); resolve() }, timeoutMs)
      timer.unref()
      this.#front.close()
      for (const s of this.#sessions) s.close()
      for (const s of this.#h1Sockets) if ((s as H1Socket)[kBusy] === 0) s.end()
      const check = (): void => {
        if (this.#sessions.size === 0 && this.#h1Sockets.size === 0) { done(); return }
        setTimeout(check, 20).unref()
      }
      check()
    })
    return this.#closing
  }

  destroy (): void {
    this.#draining = true
    this.#front.close()
    for (const s of this.#sessions) s.destroy()
    for (const s of this.#h1Sockets) s.destroy()
    this.#deps.tls?.detach(this.#front as tls.Server)
  }

  get draining (): boolean { return this.#draining }
  get sessionCount (): number { return this.#sessions.size + this.#h1Sockets.size }
}

function noop (): void {}
function onDownClose (this: Stream): void { this[kCall].cancelled() }
function onH1Close (this: ServerResponse & { [kCall]: TripleCall }): void { this[kCall].cancelled() }
function onExpire (call: TripleCall): void { call.expire() }
