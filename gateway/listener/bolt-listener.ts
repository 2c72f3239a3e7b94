import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket, type TlsOptions as NodeTlsOptions } from 'node:tls'
import type { Logger } from 'pino'
import { peerIdentityOfSocket } from '../../certs/identity.js'
import type { PeerIdentity } from '../call/identity.js'
import type { BoltListenerOptions } from '../config/options.js'
import type { SnapshotRef } from '../config/snapshot.js'
import { BoltStatus } from '../errors.js'
import { downstreamConnections } from '../metrics.js'
import type { BoltFrame } from '../protocol/bolt/command.js'
import { BoltDecoder, type BoltFrameSink } from '../protocol/bolt/decoder.js'
import { encodeGoAway, encodeHeartbeatAck } from '../protocol/bolt/encoder.js'
import { BoltHeaderView } from '../protocol/bolt/header-view.js'
import { errorResponseFrame, localReplyFrame } from '../protocol/bolt/mapping.js'
import { BoltCmd, BoltProto, BoltType, HEADER_METHOD, HEADER_SERVICE, HEADER_TARGET_SERVICE, type BoltLimitsConfig } from '../protocol/bolt/types.js'
import { LocalReply } from '../chain/local-reply.js'
import { BoltCall, type BoltDownstream } from '../proxy/bolt-call.js'
import type { BoltConnection, BoltDrainWaiter } from '../upstream/bolt-connection.js'
import type { BoltPoolRegistry } from '../upstream/bolt-pool.js'

export type { BoltListenerOptions } from '../config/options.js'

export interface BoltListenerDeps {
  readonly snapshot: SnapshotRef
  readonly logger: Logger
  readonly pools: BoltPoolRegistry
  /** TLS server options (cert, key, ca, requestCert...); null or absent for plaintext. */
  readonly tls?: (SecureContextOptions & Pick<NodeTlsOptions, 'requestCert' | 'rejectUnauthorized'>) | null
}

const LABELS = Object.freeze({ listener: 'bolt' })
/** How long a closing connection may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 1000
/** A client that takes no response bytes for this long (or idleTimeoutMs if shorter) is closed. */
const WRITE_STALL_MS = 10_000
/** Requests that arrive after GoAway: retry elsewhere (SOFA clients fail over on THREADPOOL_BUSY). */
const DRAINING_REPLY = new LocalReply('ISTH_ERR_GATEWAY_DRAINING', 'this connection got GoAway; send new calls to another gateway')

/**
 * The Bolt listener (plain or TLS). Each connection decodes frames as they stream in,
 * answers heartbeats itself, and turns each request into a BoltCall that runs the chain and
 * is forwarded. A codec error answers CODEC_EXCEPTION when the request id is known, logs one
 * line and closes that connection only. A connection with no traffic for `idleTimeoutMs`
 * (client heartbeats count) and no call in flight is closed; so is one holding a partial
 * frame. Backpressure: a connection whose responses cannot be written stops being read and
 * stops the upstream connections that feed it; one feeding a full upstream stops being read
 * until that upstream drains. A client that reads nothing for WRITE_STALL_MS is closed.
 */
export class BoltListener {
  readonly options: BoltListenerOptions
  readonly deps: BoltListenerDeps
  readonly server: Server
  readonly connections = new Set<BoltServerConnection>()
  readonly limits: BoltLimitsConfig
  readonly logger: Logger
  #closing: Promise<void> | null = null
  draining = false

  constructor (options: BoltListenerOptions, deps: BoltListenerDeps) {
    this.options = options
    this.deps = deps
    this.limits = Object.freeze({ ...options.limits })
    this.logger = deps.logger.child({ listener: 'bolt' })
    const onConnection = (socket: Socket): void => { this.#accept(socket) }
    this.server = deps.tls != null
      ? createTlsServer({ ...deps.tls }, onConnection)
      : createNetServer({ noDelay: true }, onConnection)
    this.server.on('error', (err) => { this.logger.error({ err }, 'bolt listener error') })
    if (deps.tls != null) this.server.on('tlsClientError', (err) => { this.logger.debug({ err: err.message }, 'bolt TLS handshake failed') })
  }

  listen (): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onErr = (err: Error): void => { reject(err) }
      this.server.once('error', onErr)
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onErr)
        resolve(this.server.address() as AddressInfo)
      })
    })
  }

  address (): AddressInfo | null { return this.server.address() as AddressInfo | null }

  #accept (socket: Socket): void {
    if (this.draining || socket.destroyed) { socket.destroy(); return }
    const c = new BoltServerConnection(this, socket)
    this.connections.add(c)
    downstreamConnections.inc(LABELS)
  }

  onConnectionClosed (c: BoltServerConnection): void {
    if (this.connections.delete(c)) downstreamConnections.dec(LABELS)
  }

  /**
   * Graceful: stop accepting, send GoAway on every connection, let in-flight calls finish
   * (up to `timeoutMs`), then close the connections. Idempotent.
   */
  close (timeoutMs = 5000): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.draining = true
    this.#closing = new Promise<void>((resolve) => {
      this.server.close(() => {})
      for (const c of this.connections) c.goAway()
      const deadline = Date.now() + timeoutMs
      const tick = (): void => {
        let busy = 0
        for (const c of this.connections) { if (c.inflight === 0) c.end(); else busy++ }
        if (this.connections.size === 0) { resolve(); return }
        if (Date.now() >= deadline) { this.destroy(); resolve(); return }
        const t = setTimeout(tick, busy === 0 ? 50 : 20)
        t.unref()
      }
      tick()
    })
    return this.#closing
  }

  /** Immediate: drop every connection. */
  destroy (): void {
    this.draining = true
    this.server.close(() => {})
    for (const c of this.connections) c.socket.destroy()
  }
}

/** One downstream connection: decoder sink, response writer, drain accounting, backpressure. */
export class BoltServerConnection implements BoltFrameSink, BoltDownstream, BoltDrainWaiter {
  readonly listener: BoltListener
  readonly socket: Socket
  readonly decoder: BoltDecoder
  readonly remoteAddress: string
  readonly pools: BoltPoolRegistry
  /** Verified mTLS identity of the peer (null on plain TCP or without a verified cert); once per connection. */
  readonly peer: PeerIdentity | null
  inflight = 0
  #proto: number = BoltProto.V1
  #ver1 = 1
  #closing = false
  #corked = false
  /** Reasons not to read this socket: our own full write buffer, each full upstream we fed. */
  #readPauses = 0
  #writeBlocked = false
  /** Full upstreams we fed and wait on ('drain'). */
  #waitingOn: BoltConnection[] = []
  /** Upstreams we stopped reading because our write buffer is full. */
  #holding: BoltConnection[] = []

  constructor (listener: BoltListener, socket: Socket) {
    this.listener = listener
    this.socket = socket
    this.pools = listener.deps.pools
    this.remoteAddress = socket.remoteAddress ?? ''
    this.peer = (socket as TLSSocket).encrypted === true ? peerIdentityOfSocket(socket as TLSSocket) : null
    this.decoder = new BoltDecoder(this, listener.limits)
    ;(socket as SocketWithConn)[CONN] = this
    socket.setNoDelay(true)
    socket.setTimeout(listener.options.idleTimeoutMs)
    socket.on('data', onData)
    socket.on('timeout', onTimeout)
    socket.on('error', onError)
    socket.on('close', onClose)
    socket.on('drain', onDrain)
  }

  onBoltFrame (frame: BoltFrame): void {
    this.#proto = frame.proto
    this.#ver1 = frame.ver1 === 0 ? 1 : frame.ver1
    if (frame.type === BoltType.RESPONSE) return // heartbeat acks or stray responses: nothing owed
    const cmd = frame.cmd
    if (cmd === BoltCmd.HEARTBEAT) { this.writeFrame(encodeHeartbeatAck(frame)); return }
    if (cmd === BoltCmd.GOAWAY) return
    if (cmd !== BoltCmd.REQUEST) {
      this.onBoltCodecError(`command code ${cmd} in a request`, frame.requestId, frame.proto, frame.ver1, frame.type)
      return
    }
    if (this.#closing) return
    const l = this.listener
    if (l.draining) {
      // After GoAway: refuse before any work, so in-flight calls drain and the client fails over.
      if (frame.type !== BoltType.ONEWAY) this.writeFrame(localReplyFrame(DRAINING_REPLY, frame))
      return
    }
    const headers = new BoltHeaderView(frame.buf, frame.headerStart, frame.contentStart)
    const call = new BoltCall(frame, this, headers, this.remoteAddress, l.deps.snapshot.current, l.logger)
    call.peer = this.peer
    readRouting(call, headers)
    this.inflight++
    try {
      call.start()
    } catch (err) {
      // A bug on the call path must not take the process down: answer and log.
      l.logger.error({ err }, 'bolt call failed')
      if (call.phase !== 10) {
        this.writeFrame(errorResponseFrame(frame, BoltStatus.SERVER_EXCEPTION, 'ISTH_ERR_INTERNAL: internal error'))
        call.finish(BoltStatus.SERVER_EXCEPTION)
        this.onCallDone(call)
      }
    }
  }

  onBoltCodecError (reason: string, requestId: number, proto: number, ver1: number, type: number): void {
    const l = this.listener
    l.logger.warn({ peer: this.remoteAddress, requestId: requestId >= 0 ? requestId : undefined, reason }, 'bolt codec error, closing connection')
    if (requestId >= 0 && type !== BoltType.RESPONSE && !this.socket.destroyed) {
      this.socket.write(errorResponseFrame({ proto, ver1: proto === BoltProto.V2 ? (ver1 === 2 ? 2 : 1) : 0, switchByte: 0, requestId }, BoltStatus.CODEC_EXCEPTION, `ISTH_ERR_BOLT_CODEC: bad Bolt frame: ${reason}`))
    }
    this.end()
  }

  writeFrame (buf: Buffer): boolean {
    const s = this.socket
    if (s.destroyed || !s.writable) return true
    // Responses that arrive in one upstream read leave in one writev.
    if (!this.#corked) { this.#corked = true; s.cork(); process.nextTick(uncork, this) }
    if (s.write(buf)) return true
    if (!this.#writeBlocked) {
      // Bound what we buffer for a slow reader: stop reading its requests, and (holdUpstream)
      // the upstreams answering it; a reader stuck for WRITE_STALL_MS is closed.
      this.#writeBlocked = true
      this.#pauseRead()
      s.setTimeout(Math.min(this.listener.options.idleTimeoutMs, WRITE_STALL_MS))
    }
    return false
  }

  holdUpstream (up: BoltConnection): void {
    if (!this.#writeBlocked || up.closed || this.#holding.includes(up)) return
    this.#holding.push(up)
    up.holdRead()
  }

  waitUpstream (up: BoltConnection): void {
    if (up.closed || this.#waitingOn.includes(up)) return
    this.#waitingOn.push(up)
    up.waitDrain(this)
    this.#pauseRead()
  }

  onUpstreamDrain (up: BoltConnection): void {
    const i = this.#waitingOn.indexOf(up)
    if (i < 0) return
    this.#waitingOn.splice(i, 1)
    this.#resumeRead()
  }

  /** Our socket drained: read again, and let the upstreams we held go. */
  handleDrain (): void {
    if (!this.#writeBlocked) return
    this.#writeBlocked = false
    this.socket.setTimeout(this.listener.options.idleTimeoutMs)
    this.#releaseHolds()
    this.#resumeRead()
  }

  #releaseHolds (): void {
    const h = this.#holding
    if (h.length === 0) return
    this.#holding = []
    for (let i = 0; i < h.length; i++) h[i].releaseRead()
  }

  #pauseRead (): void { if (this.#readPauses++ === 0) this.socket.pause() }
  #resumeRead (): void { if (--this.#readPauses === 0 && !this.socket.destroyed) this.socket.resume() }

  /** Closed: release what we hold (upstreams we waited on call back into a no-op). */
  handleClose (): void {
    this.decoder.stopped = true
    this.#waitingOn = []
    this.#releaseHolds()
    this.listener.onConnectionClosed(this)
  }

  onCallDone (_call: BoltCall): void {
    this.inflight--
    if (this.#closing && this.inflight === 0) this.end()
  }

  uncork (): void { this.#corked = false; this.socket.uncork() }

  goAway (): void {
    if (!this.socket.destroyed) this.socket.write(encodeGoAway(this.#proto, this.#ver1))
  }

  /** Stop reading, flush, close; destroyed if the peer does not close within a grace period. */
  end (): void {
    const s = this.socket
    this.decoder.stopped = true
    if (s.destroyed) return
    if (!this.#closing) {
      this.#closing = true
      const t = setTimeout(destroySocket, CLOSE_GRACE_MS, s)
      t.unref()
    }
    s.end()
  }

  /** No bytes in or out for the socket's timeout. */
  handleTimeout (): void {
    const l = this.listener
    if (this.decoder.buffered > 0) {
      l.logger.warn({ peer: this.remoteAddress, buffered: this.decoder.buffered }, 'bolt connection idle with a partial frame, closing')
      this.socket.destroy()
    } else if (this.#writeBlocked) {
      l.logger.warn({ peer: this.remoteAddress, buffered: this.socket.writableLength }, 'bolt client reads no responses, closing')
      this.socket.destroy()
    } else if (this.inflight === 0) {
      // Fully idle (a live SOFA client sends heartbeats): free the socket.
      l.logger.debug({ peer: this.remoteAddress }, 'bolt connection idle, closing')
      this.end()
    }
  }
}

/** Service from `service` (`iface:version[:uniqueId]`), else `sofa_head_target_service`; method if sent. */
function readRouting (call: BoltCall, h: BoltHeaderView): void {
  let svc = h.get(HEADER_SERVICE)
  if (svc === undefined || svc === '') svc = h.get(HEADER_TARGET_SERVICE)
  if (svc !== undefined && svc !== '') {
    const i = svc.indexOf(':')
    if (i < 0) call.service = svc
    else {
      call.service = svc.slice(0, i)
      const j = svc.indexOf(':', i + 1)
      if (j < 0) call.version = svc.slice(i + 1)
      else { call.version = svc.slice(i + 1, j); call.group = svc.slice(j + 1) }
    }
  }
  const m = h.get(HEADER_METHOD)
  if (m !== undefined) call.method = m
}

const CONN = Symbol('isthmus.boltServerConnection')
type SocketWithConn = Socket & { [CONN]: BoltServerConnection }

function onData (this: Socket, chunk: Buffer): void { (this as SocketWithConn)[CONN].decoder.push(chunk) }
function onTimeout (this: Socket): void { (this as SocketWithConn)[CONN].handleTimeout() }
function onError (this: Socket): void { /* 'close' follows */ }
function onDrain (this: Socket): void { (this as SocketWithConn)[CONN].handleDrain() }
function onClose (this: Socket): void { (this as SocketWithConn)[CONN].handleClose() }
function uncork (c: BoltServerConnection): void { c.uncork() }
function destroySocket (s: Socket): void { s.destroy() }
