import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import http2, { type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import net, { type AddressInfo, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import tls, { type TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import { peerIdentityOfSocket } from '../../certs/identity.js'
import type { TlsMaterial } from '../../certs/tls-material.js'
import { Phase } from '../call/phase.js'
import type { TripleListenerOptions } from '../config/options.js'
import type { SnapshotRef } from '../config/snapshot.js'
import { downstreamConnections, limitTrips } from '../metrics.js'
import { ForwardBatch } from '../proxy/forward-batch.js'
import { internalError, logInternal } from '../proxy/triple-boundary.js'
import { TripleCall, type TripleDeps } from '../proxy/triple-call.js'
import { kCall, tagStream } from '../proxy/triple-tag.js'
import type { H2PoolRegistry } from '../upstream/h2-pool-registry.js'
import { DeadlineWheel } from '../util/deadline-wheel.js'
import { ConnSweep } from './conn-sweep.js'
import { ConnectionGuard } from './connection-guard.js'
import { awaitFirstByte, forgetFirstByte, isH2Preface, type FirstByteSink } from './first-byte.js'
import { refuse, SessionGuard, type GuardOwner, type SessionLimits, type TripleTrips } from './h2-session-guard.js'
import { createHttp1Server, H1, type H1Socket } from './triple-http1-server.js'

export interface TripleListenerDeps {
  readonly snapshot: SnapshotRef
  readonly logger: Logger
  readonly pools: H2PoolRegistry
  readonly tls: TlsMaterial | null
}

const { NGHTTP2_NO_ERROR } = http2.constants
const kListener = Symbol('isthmus.tripleListener')
const kAcceptedAt = Symbol('isthmus.acceptedAt')
const kSession = Symbol('isthmus.sessionGuard')
type Conn = Socket & { [kListener]: TripleListener, [kAcceptedAt]: number, [kSession]?: SessionGuard }
type Stream = ServerHttp2Stream & { [kCall]: TripleCall }
const LABELS = Object.freeze({ listener: 'triple' })
/** nghttp2 answers more than ~1000 quick resets with its own GOAWAY and then never closes the
 *  session; our rapid-reset guard must act first. */
const NGHTTP2_RESET_BURST = 1000

/**
 * The Triple listener: gRPC and Triple over HTTP/2 (h2c, or TLS with ALPN h2), and Triple
 * unary over HTTP/1.1 (ALPN http/1.1 on TLS; on plain TCP the connection preface decides).
 * One front server accepts; HTTP/2 and HTTP/1.1 servers that never listen handle the
 * connections handed to them. HTTP/2 streams use the core API (no compat objects).
 * Hostile clients are bounded at every stage (README "Limits"): connection caps at raw accept
 * (before a TLS handshake), the first byte, the first stream, idle sessions, rapid resets,
 * streams per session and in total, bytes buffered per client, HTTP/1.1 header and request
 * time. Every socket, session and stream gets its 'error' listener the moment it exists.
 */
export class TripleListener implements GuardOwner, FirstByteSink {
  readonly options: Readonly<TripleListenerOptions>
  readonly limits: SessionLimits
  readonly trips: TripleTrips
  readonly sweep: ConnSweep
  streams = 0
  readonly #deps: TripleListenerDeps
  readonly #front: net.Server | tls.Server
  readonly #h2: Http2Server
  readonly #h1: http.Server
  readonly #callDeps: TripleDeps
  readonly #guard: ConnectionGuard
  readonly #connWindow: number
  /** Every accepted connection (raw TCP sockets), until it closes. */
  readonly #conns = new Set<Socket>()
  /** Connections waiting for their first byte (TLS: after the handshake). */
  readonly #waiting = new Set<Socket>()
  readonly #sessions = new Set<SessionGuard>()
  readonly #h1Sockets = new Set<Socket>()
  #draining = false
  #closing: Promise<void> | null = null
  /** The socket being handed to the HTTP/2 server ('session' is emitted synchronously). */
  #handing: Socket | null = null

  constructor (options: Readonly<TripleListenerOptions>, deps: TripleListenerDeps) {
    this.options = options
    this.#deps = deps
    const lim = options.limits
    this.limits = Object.freeze({
      headersTimeoutMs: lim.headersTimeoutMs,
      idleTimeoutMs: lim.idleTimeoutMs,
      goawayGraceMs: lim.goawayGraceMs,
      maxResets: Math.min(lim.rapidReset.maxResets, NGHTTP2_RESET_BURST - 1),
      resetWindowMs: lim.rapidReset.windowMs,
      maxBufferedBytes: lim.maxBufferedBytesPerClient,
    })
    this.trips = Object.freeze({
      firstByte: limitTrips('triple', 'first_byte'),
      headers: limitTrips('triple', 'headers'),
      request: limitTrips('triple', 'request'),
      idle: limitTrips('triple', 'idle'),
      goawayGrace: limitTrips('triple', 'goaway_grace'),
      streams: limitTrips('triple', 'streams'),
      bufferedBytes: limitTrips('triple', 'buffered_bytes'),
      rapidReset: limitTrips('triple', 'rapid_reset'),
    })
    const tick = ConnSweep.intervalFor(Math.min(lim.firstByteTimeoutMs, lim.headersTimeoutMs, lim.requestTimeoutMs, lim.idleTimeoutMs, lim.goawayGraceMs))
    this.sweep = new ConnSweep(tick, (err) => { logInternal(deps.logger, err, 'sweep', '') })
    this.#guard = new ConnectionGuard('triple', lim, this)
    this.#callDeps = {
      pools: deps.pools,
      logger: deps.logger,
      deadlines: new DeadlineWheel<TripleCall>(onExpire),
      batch: new ForwardBatch(),
      graceMs: lim.goawayGraceMs,
    }
    const l = options.http2
    // A connection-level window as large as the stream window: one busy stream should not
    // starve the others.
    this.#connWindow = Math.max(l.initialWindowSize, 65535)
    this.#h2 = http2.createServer({
      settings: {
        maxConcurrentStreams: l.maxConcurrentStreams,
        maxHeaderListSize: l.maxHeaderListSize,
        initialWindowSize: l.initialWindowSize,
        enablePush: false,
      },
      maxSessionMemory: l.maxSessionMemory,
    })
    this.#h2.on('session', (s: ServerHttp2Session) => { this.#onSession(s) })
    this.#h1 = createHttp1Server(options, this.trips, tick, (req, res) => { this.#onHttp1(req, res) })

    if (deps.tls !== null) {
      const front = tls.createServer({
        ...deps.tls.secureContextOptions(),
        ALPNProtocols: options.http1 ? ['h2', 'http/1.1'] : ['h2'],
        // The first-byte bound covers the handshake too (a silent TLS client never finishes one).
        handshakeTimeout: lim.firstByteTimeoutMs,
      })
      // The raw TCP socket, before any handshake work: caps apply here.
      front.on('connection', (raw: Socket) => { raw.on('error', onSocketError); this.#admit(raw, true) })
      front.on('secureConnection', (socket: TLSSocket) => { this.#onSecure(socket) })
      front.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
        if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.trips.firstByte.n++
        deps.logger.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed')
        socket.destroy() // node leaves it open (even on its own handshake timeout)
      })
      deps.tls.attach(front)
      this.#front = front
    } else {
      this.#front = net.createServer((socket: Socket) => { this.#acceptPlain(socket) })
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

  /**
   * Count a new TCP connection in, or refuse it (draining, connection caps). Its 'close'
   * finds this listener through the guard (no per-socket pointer: thousands sit idle);
   * TLS: the raw socket keeps its accept time for the first-byte bound after the handshake.
   */
  #admit (socket: Socket, tls: boolean): boolean {
    if (this.#draining || socket.destroyed) { socket.destroy(); return false }
    if (!this.#guard.admit(socket)) return false
    if (tls) (socket as Conn)[kAcceptedAt] = performance.now()
    this.#conns.add(socket)
    downstreamConnections.inc(LABELS)
    socket.on('close', onConnClose)
    return true
  }

  connClosed (socket: Socket): void {
    ConnectionGuard.release(socket)
    if (this.#conns.delete(socket)) downstreamConnections.dec(LABELS)
    this.#waiting.delete(socket)
    forgetFirstByte(socket)
    this.#sessionGone(socket)
  }

  /** The socket under a session closed: the session is over (node emits its 'close' later). */
  #sessionGone (socket: Socket): void {
    const g = (socket as Conn)[kSession]
    if (g === undefined) return
    ;(socket as Conn)[kSession] = undefined
    this.sweep.delete(g)
    this.sessionClosed(g)
  }

  #acceptPlain (socket: Socket): void {
    socket.on('error', onSocketError)
    const now = performance.now()
    if (!this.#admit(socket, false)) return
    socket.setNoDelay(true)
    this.#waitFirstByte(socket, now)
  }

  #onSecure (socket: TLSSocket): void {
    socket.on('error', onSocketError)
    if (this.#draining || socket.destroyed) { socket.destroy(); return }
    socket.setNoDelay(true)
    ;(socket as unknown as Conn)[kListener] = this
    socket.on('close', onTlsClose)
    // Measured from the raw accept: handshake and first byte share one bound.
    const raw = (socket as { _parent?: Partial<Conn> })._parent
    this.#waitFirstByte(socket, raw?.[kAcceptedAt] ?? performance.now())
  }

  #waitFirstByte (socket: Socket, acceptedAt: number): void {
    this.#waiting.add(socket)
    awaitFirstByte(socket, acceptedAt + this.options.limits.firstByteTimeoutMs, this, this.sweep)
  }

  /** FirstByteSink: ALPN (TLS) or the connection preface (plain) picks HTTP/2 or HTTP/1.1. */
  onFirstByte (socket: Socket, chunk: Buffer): void {
    this.#waiting.delete(socket)
    if (this.#draining) { socket.destroy(); return }
    const encrypted = (socket as TLSSocket).encrypted === true
    const h2 = encrypted ? (socket as TLSSocket).alpnProtocol === 'h2' : !this.options.http1 || isH2Preface(chunk)
    if (h2) {
      this.#handing = socket
      try { this.#h2.emit('connection', socket) } finally { this.#handing = null }
      // node's session put its own 'error' listener on the socket: ours (there from accept so
      // the socket never had none) goes, one listener instead of an array of two per session.
      if (socket.listenerCount('error') > 1) socket.removeListener('error', onSocketError)
      return
    }
    if (!this.options.http1) { socket.destroy(); return }
    const s = socket as H1Socket & Conn
    s[H1.kBusy] = 0
    s[kListener] = this
    this.#h1Sockets.add(socket)
    socket.on('close', onH1SocketClose)
    this.#h1.emit('connection', socket)
    socket.resume()
  }

  onSilent (socket: Socket): void {
    this.#waiting.delete(socket)
    this.trips.firstByte.n++
  }

  onError (err: unknown): void { logInternal(this.#deps.logger, err, 'dispatch', '') }

  tlsClosed (socket: Socket): void { this.#waiting.delete(socket); forgetFirstByte(socket); this.#sessionGone(socket) }
  h1SocketClosed (socket: Socket): void { this.#h1Sockets.delete(socket) }
  sessionClosed (g: SessionGuard): void { this.#sessions.delete(g) }

  #onSession (s: ServerHttp2Session): void {
    const socket = this.#handing ?? s.socket as Socket
    const peer = (socket as TLSSocket).encrypted === true ? peerIdentityOfSocket(socket as TLSSocket) : null
    const g = SessionGuard.attach(this, s, socket, peer)
    ;(socket as Conn)[kSession] = g
    this.#sessions.add(g)
    if (this.#draining) s.close()
  }

  get connectionWindow (): number { return this.#connWindow }

  onStream (g: SessionGuard, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    stream.on('error', onStreamError)
    // Frames read in one go (a sniffed first packet) are all processed before the first
    // 'stream' event: the stream may be reset, or its session gone, already. Assume nothing.
    if (stream.destroyed || stream.closed) {
      if ((stream.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR) g.clientReset(performance.now())
      return
    }
    if (g.closing) { refuse(stream); return }
    if (this.streams >= this.options.limits.maxStreams) { this.trips.streams.n++; refuse(stream); return }
    let call: TripleCall | null = null
    try {
      call = new TripleCall(this.#deps.snapshot.current, this.#callDeps, headers, g.remote, stream, null, null, (flags & 1) !== 0, g)
      call.peer = g.peer
      ;(stream as Stream)[kCall] = call
      stream.on('close', onDownClose)
      this.streams++
      g.callStarted()
      call.begin()
    } catch (err) {
      if (call !== null) internalError(call, err, 'begin')
      else { logInternal(this.#deps.logger, err, 'begin', ''); refuse(stream) }
    }
  }

  #onHttp1 (req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as H1Socket & TLSSocket
    socket[H1.kBusy]++
    res.on('close', onH1ResClose)
    let call: TripleCall | null = null
    try {
      const headers = req.headers as IncomingHttpHeaders
      headers[':path'] = req.url
      headers[':method'] = req.method
      const ended = req.method === 'GET' || req.method === 'HEAD' || req.headers['content-length'] === '0'
      call = new TripleCall(this.#deps.snapshot.current, this.#callDeps, headers, socket.remoteAddress ?? '', null, req, res, ended, null)
      call.peer = socket.encrypted === true ? peerIdentityOfSocket(socket) : null
      tagStream(req, call)
      tagStream(res, call)
      if (this.#draining) res.setHeader('connection', 'close')
      call.begin()
    } catch (err) {
      if (call !== null) internalError(call, err, 'begin')
      else { logInternal(this.#deps.logger, err, 'begin', ''); res.destroy() }
    }
  }

  /** An HTTP/1.1 response closed: the call is over; a draining connection closes when idle. */
  h1ResponseClosed (socket: H1Socket): void {
    socket[H1.kBusy]--
    if (this.#draining && socket[H1.kBusy] === 0) socket.end()
  }

  /**
   * Graceful: stop accepting, GOAWAY every HTTP/2 session, let in-flight calls finish up to
   * `timeoutMs`, then destroy what is left. Idempotent.
   */
  close (timeoutMs = 25000): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#draining = true
    this.#closing = new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); this.#stopTimers(); resolve() }
      const timer = setTimeout(() => { this.destroy(); resolve() }, timeoutMs)
      timer.unref()
      this.#front.close()
      for (const s of this.#waiting) s.destroy()
      for (const g of this.#sessions) { try { g.session.close() } catch { g.session.destroy() } }
      for (const s of this.#h1Sockets) if ((s as H1Socket)[H1.kBusy] === 0) s.end()
      const check = (): void => {
        if (this.#conns.size === 0) { done(); return }
        setTimeout(check, 20).unref()
      }
      check()
    })
    return this.#closing
  }

  destroy (): void {
    this.#draining = true
    this.#front.close()
    for (const g of this.#sessions) g.session.destroy()
    for (const s of this.#conns) s.destroy()
    for (const s of this.#h1Sockets) s.destroy()
    for (const s of this.#waiting) s.destroy()
    this.#stopTimers()
    this.#deps.tls?.detach(this.#front as tls.Server)
  }

  #stopTimers (): void {
    this.sweep.stop()
    this.#h1.close() // stops node's header/request timeout checks
  }

  get draining (): boolean { return this.#draining }
  get sessionCount (): number { return this.#sessions.size + this.#h1Sockets.size }
}

function onSocketError (): void {} // 'close' follows; the socket's owner cleans up there
function onStreamError (): void {} // likewise: 'close' follows and ends the call

function onConnClose (this: Socket): void { (ConnectionGuard.ownerOf(this) as TripleListener | undefined)?.connClosed(this) }
function onTlsClose (this: Conn): void { this[kListener].tlsClosed(this) }
function onH1SocketClose (this: Conn): void { this[kListener].h1SocketClosed(this) }

/** The downstream stream closed: a call still running was cancelled by the client (or the
 *  connection died); a reset we did not send counts towards the session's rapid-reset bound. */
function onDownClose (this: Stream): void {
  const call = this[kCall]
  const g = call.session as SessionGuard
  g.owner.streams--
  if (call.phase !== Phase.End) {
    g.clientReset(performance.now())
    try { call.cancelled() } catch (err) { internalError(call, err, 'cancel') }
  } else if ((this.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR && !call.localReset) {
    g.clientReset(performance.now())
  }
}

function onH1ResClose (this: ServerResponse & { [kCall]?: TripleCall }): void {
  const call = this[kCall]
  if (call !== undefined) { try { call.cancelled() } catch (err) { internalError(call, err, 'cancel') } }
  const socket = this.req.socket as (H1Socket & Partial<Conn>) | null
  if (socket !== null) socket[kListener]?.h1ResponseClosed(socket)
}

function onExpire (call: TripleCall): void {
  try { call.expire() } catch (err) { internalError(call, err, 'deadline') }
}
