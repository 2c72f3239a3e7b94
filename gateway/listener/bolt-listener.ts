import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { createServer as createTlsServer, type SecureContextOptions, type TlsOptions as NodeTlsOptions } from 'node:tls'
import type { Logger } from 'pino'
import type { BoltLimits, BoltListenerOptions } from '../config/options.js'
import type { SnapshotRef } from '../config/snapshot.js'
import { downstreamConnections, limitTrips, type TripCell } from '../metrics.js'
import type { BoltHeaderView } from '../protocol/bolt/header-view.js'
import { checkBoltContent } from '../protocol/bolt/hessian-check.js'
import type { BoltCall } from '../proxy/bolt-call.js'
import type { BoltPoolRegistry } from '../upstream/bolt-pool.js'
import { BoltServerConnection, onConnectionClose } from './bolt-server-connection.js'
import { ConnectionGuard } from './connection-guard.js'

export type { BoltListenerOptions } from '../config/options.js'
export { BoltServerConnection } from './bolt-server-connection.js'

export interface BoltListenerDeps {
  readonly snapshot: SnapshotRef
  readonly logger: Logger
  readonly pools: BoltPoolRegistry
  /** TLS server options (cert, key, ca, requestCert...); null or absent for plaintext. */
  readonly tls?: (SecureContextOptions & Pick<NodeTlsOptions, 'requestCert' | 'rejectUnauthorized'>) | null
}

/** The bounds of `limits` that trip, each counted in isthmus_limit_trips_total{listener="bolt"}. */
export interface BoltTrips {
  readonly firstByte: TripCell
  readonly frame: TripCell
  readonly idle: TripCell
  readonly writeStall: TripCell
  readonly bufferedBytes: TripCell
  /** maxInflightPerConnection reached (the connection is paused, not closed). */
  readonly inflight: TripCell
  /** A request with undecodable hessian2 content (`checkContent`), refused. */
  readonly content: TripCell
}

const LABELS = Object.freeze({ listener: 'bolt' })

/**
 * The Bolt listener (plain or TLS): accepts connections (ConnectionGuard caps in total and
 * per source address, checked on the raw socket before any other work, before the TLS
 * handshake), and scans its connections on one coarse interval for their deadlines (first
 * byte, frame, idle, write stall: see BoltServerConnection) instead of a timer per socket;
 * the interval runs only while there are connections. Per socket, one 'error' and one
 * 'close' listener (plain TCP: the same socket from accept to close).
 * `isthmus_downstream_connections{listener="bolt"}` counts admitted TCP connections, from
 * accept to close, TLS handshakes included.
 */
export class BoltListener {
  readonly options: BoltListenerOptions
  readonly deps: BoltListenerDeps
  readonly server: Server
  readonly connections = new Set<BoltServerConnection>()
  readonly limits: Readonly<BoltLimits>
  readonly logger: Logger
  readonly guard: ConnectionGuard
  /** How often the deadline scan runs (ms). */
  readonly tickMs: number
  #ticker: NodeJS.Timeout | null = null
  readonly trips: BoltTrips
  #closing: Promise<void> | null = null
  draining = false

  constructor (options: BoltListenerOptions, deps: BoltListenerDeps) {
    this.options = options
    this.deps = deps
    this.limits = Object.freeze({ ...options.limits })
    this.logger = deps.logger.child({ listener: 'bolt' })
    this.guard = new ConnectionGuard('bolt', this.limits)
    this.trips = Object.freeze({
      firstByte: limitTrips('bolt', 'first_byte'),
      frame: limitTrips('bolt', 'frame'),
      idle: limitTrips('bolt', 'idle'),
      writeStall: limitTrips('bolt', 'write_stall'),
      bufferedBytes: limitTrips('bolt', 'buffered_bytes'),
      inflight: limitTrips('bolt', 'streams'),
      content: limitTrips('bolt', 'content'),
    })
    const l = this.limits
    // A quarter of the shortest bound, between 10 ms and 1 s: a bound trips at most that late.
    const shortest = Math.min(l.firstByteTimeoutMs, l.frameTimeoutMs, l.writeStallMs, options.idleTimeoutMs)
    this.tickMs = Math.max(10, Math.min(1000, Math.floor(shortest / 4)))
    if (deps.tls != null) {
      // The handshake is bounded by firstByteTimeoutMs too; the connection's own first-byte
      // bound starts once it is done.
      const server = createTlsServer({ ...deps.tls, handshakeTimeout: l.firstByteTimeoutMs }, (s) => { this.#open(s, true) })
      server.prependListener('connection', (raw: Socket) => { this.#admit(raw) })
      server.on('tlsClientError', (err: NodeJS.ErrnoException, s: Socket) => {
        if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.trips.firstByte.n++
        this.logger.debug({ err: err.message }, 'bolt TLS handshake failed')
        s.destroy() // Node leaves a timed-out handshake open
      })
      this.server = server
    } else {
      this.server = createNetServer({ noDelay: true }, (s) => { if (this.#admit(s)) this.#open(s, false) })
    }
    this.server.on('error', (err) => { this.logger.error({ err }, 'bolt listener error') })
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

  /** The raw TCP socket, first thing: its error listener, the caps, the gauge. */
  #admit (raw: Socket): boolean {
    raw.on('error', onSocketError)
    if (this.draining || raw.destroyed) { raw.destroy(); return false }
    if (!this.guard.admit(raw)) return false
    downstreamConnections.inc(LABELS)
    raw.on('close', onAdmittedClose)
    return true
  }

  /** A connection ready for Bolt (plain: accepted, `tls` false: the socket #admit saw; TLS: handshake done). */
  #open (socket: Socket, tls: boolean): void {
    if (tls) socket.on('error', onSocketError)
    if (this.draining || socket.destroyed) { socket.destroy(); return }
    let c: BoltServerConnection
    try {
      c = new BoltServerConnection(this, socket, performance.now(), tls)
    } catch (err) {
      this.logger.error({ err }, 'bolt connection setup failed (internal error)')
      socket.destroy()
      return
    }
    this.connections.add(c)
    if (this.#ticker === null) {
      this.#ticker = setInterval(onTick, this.tickMs, this)
      this.#ticker.unref()
    }
  }

  onConnectionClosed (c: BoltServerConnection): void {
    this.connections.delete(c)
  }

  /** The deadline scan: every connection whose deadline passed; stops when none is left. */
  static tick (l: BoltListener): void {
    const now = performance.now()
    for (const c of l.connections) if (c.deadline <= now) onConnectionDeadline(c, now)
    if (l.connections.size === 0 && l.#ticker !== null) { clearInterval(l.#ticker); l.#ticker = null }
  }

  /**
   * Graceful: stop accepting, send GoAway on every connection when configured (requests that
   * still arrive are refused with SERVER_THREADPOOL_BUSY, so SOFA clients fail over), let
   * in-flight calls finish (up to `timeoutMs`), then close each connection once it has none.
   * Idempotent.
   */
  close (timeoutMs = 5000): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.draining = true
    this.#closing = new Promise<void>((resolve) => {
      this.server.close(() => {})
      if (this.options.goAwayOnDrain === true) for (const c of this.connections) c.goAway()
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

  /**
   * Why `call`'s content must not reach an upstream ('' when it may; `checkContent`), counted
   * and logged (once per connection) when it must not. One bad request, not a bad connection:
   * the call is answered (as Java SOFABolt does) and the connection goes on.
   */
  checkContent (conn: BoltServerConnection, call: BoltCall): string {
    if (this.options.checkContent === false) return ''
    const bad = checkBoltContent(call.frame, call.headers as BoltHeaderView, this.options.passCodecs)
    if (bad === '') return ''
    this.trips.content.n++
    if (!conn.loggedContent) {
      conn.loggedContent = true
      this.logger.warn({ peer: conn.remoteAddress, requestId: call.frame.requestId, reason: bad }, 'bolt request content cannot be decoded, refused (logged once per connection)')
    }
    return bad
  }

  /** Immediate: drop every connection. */
  destroy (): void {
    this.draining = true
    this.server.close(() => {})
    for (const c of this.connections) c.socket.destroy()
  }
}

function onTick (l: BoltListener): void { BoltListener.tick(l) }
function onConnectionDeadline (c: BoltServerConnection, now: number): void {
  try {
    c.onDeadline(now)
  } catch (err) {
    c.crashed(err)
  }
}
function onSocketError (this: Socket): void { /* 'close' follows and does the work */ }
/** The admitted raw socket closed: the caps and the gauge; plain TCP: the connection too. */
function onAdmittedClose (this: Socket): void {
  ConnectionGuard.release(this)
  downstreamConnections.dec(LABELS)
  onConnectionClose.call(this)
}
