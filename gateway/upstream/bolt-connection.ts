import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { performance } from 'node:perf_hooks'
import { enterRead, leaveRead, now as clock } from '../util/read-clock.js'
import type { BoltFrame } from '../protocol/bolt/command.js'
import { BoltDecoder, type BoltFrameSink } from '../protocol/bolt/decoder.js'
import { encodeHeartbeat } from '../protocol/bolt/encoder.js'
import { HeartbeatAction, HeartbeatSchedule, type HeartbeatSettings } from '../protocol/bolt/heartbeat.js'
import { BoltCmd, BoltType, DEFAULT_BOLT_LIMITS } from '../protocol/bolt/types.js'
import type { Logger } from 'pino'
import type { ClusterHealth } from '../cluster/outlier.js'
import { sharedCounter, upstreamSessions } from '../metrics.js'
import { BoltExchanges } from './bolt-exchanges.js'

/** What a connection needs from a request it carries (BoltCall implements it). */
export interface BoltExchange {
  /** The upstream answered. */
  onUpstreamResponse (frame: BoltFrame): void
  /** Timed out, reset, or the connection failed. */
  onUpstreamFailure (kind: UpstreamFailure): void
}

export const UpstreamFailure = { Timeout: 0, Reset: 1, Connect: 2 } as const
export type UpstreamFailure = typeof UpstreamFailure[keyof typeof UpstreamFailure]

export const heartbeatsSent = sharedCounter('isthmus_bolt_heartbeats_sent_total', 'Heartbeats sent on upstream Bolt connections')
export const heartbeatsFailed = sharedCounter('isthmus_bolt_heartbeats_failed_total', 'Upstream Bolt heartbeats that failed or timed out')
export const heartbeatClosed = sharedCounter('isthmus_bolt_heartbeat_closed_total', 'Upstream Bolt connections closed after consecutive heartbeat failures')
export const unknownResponses = sharedCounter('isthmus_bolt_unknown_responses_total', 'Upstream Bolt responses with an unknown request id, dropped')

export interface BoltConnectionOptions {
  readonly host: string
  readonly port: number
  readonly connectTimeoutMs: number
  readonly heartbeat: HeartbeatSettings
  /** Requests before this connection stops taking new ones (0 = no cap). */
  readonly maxRequests: number
  readonly tls: ConnectionOptions | null
  /** After the TLS handshake: null to accept the peer, else why it is refused (closes the connection). */
  readonly verifyPeer?: ((socket: TLSSocket) => string | null) | null
  /** Where a gateway bug on this connection is logged. */
  readonly logger?: Pick<Logger, 'error'> | null
}

/** A downstream connection that stopped reading because this connection's write buffer is full. */
export interface BoltDrainWaiter {
  onUpstreamDrain (c: BoltConnection): void
}

/** Told when a connection ends or stops taking requests, so the pool replaces it. */
export interface BoltConnectionOwner {
  onConnectionReady (c: BoltConnection): void
  /** `lost`: requests in flight the close failed (0 for a GoAway, which closes nothing yet). */
  onConnectionClosed (c: BoltConnection, connected: boolean, lost: number): void
}

const MIN_SWEEP_MS = 10

/**
 * One multiplexed upstream Bolt connection: gateway-side request ids (so many downstream
 * connections share it), per-request deadlines swept by one timer, oneway requests not
 * tracked, responses with unknown ids dropped and counted, and the heartbeat back-off.
 * It is always read: one slow client must not stall the others it carries (a client that
 * cannot take its responses is closed by its listener instead), so an upstream timeout is
 * never the gateway's own doing.
 */
export class BoltConnection implements BoltFrameSink {
  readonly options: BoltConnectionOptions
  readonly socket: Socket
  readonly #owner: BoltConnectionOwner
  readonly #decoder: BoltDecoder
  readonly #inflight = new BoltExchanges<BoltExchange>()
  readonly hb: HeartbeatSchedule
  #nextId = 1
  #sent = 0
  connected = false
  closed = false
  /** No new requests (GoAway from upstream, request cap reached, or closing). */
  draining = false
  #sweepTimer: NodeJS.Timeout | null = null
  #sweepAt = Infinity
  #hbTimer: NodeJS.Timeout | null = null
  #hbPendingId = -1
  #hbSentAt = 0
  #corked = false
  /** The corked batch waits for the end of the event-loop turn (endOfRead). */
  #deferred = false
  /** Downstreams paused until this socket drains (backpressure: never buffer without bound). */
  #waiters: BoltDrainWaiter[] = []
  /** Why the connection failed (socket error, TLS handshake or peer check), for the reply and the log. */
  lastError = ''
  /** The cluster whose `connections` count this connection is in (circuit breakers). */
  countedIn: ClusterHealth | null = null

  constructor (options: BoltConnectionOptions, owner: BoltConnectionOwner) {
    this.options = options
    this.#owner = owner
    this.hb = new HeartbeatSchedule(options.heartbeat)
    this.#decoder = new BoltDecoder(this, { ...DEFAULT_BOLT_LIMITS, maxFrameBytes: 64 * 1024 * 1024, maxHeaderBytes: 32767, maxHeaderEntries: 4096, maxClassNameBytes: 32767 })
    const s = options.tls === null
      ? netConnect({ host: options.host, port: options.port, noDelay: true })
      : tlsConnect({ ...options.tls, host: options.host, port: options.port })
    this.socket = s
    s.setNoDelay(true)
    ;(s as SocketWithConn)[CONN] = this
    s.setTimeout(options.connectTimeoutMs)
    s.on(options.tls === null ? 'connect' : 'secureConnect', onConnect)
    s.on('timeout', onConnectTimeout)
    s.on('data', onData)
    s.on('error', onError)
    s.on('close', onClose)
    s.on('drain', onDrain)
  }

  get inflight (): number { return this.#inflight.size }
  get sent (): number { return this.#sent }

  /** Whether this connection takes another request. */
  get usable (): boolean { return !this.closed && !this.draining }

  /** A fresh gateway-side request id for this connection (patch it into the frame, then send). */
  takeId (): number {
    const id = this.#nextId
    this.#nextId = id >= 0xfffffffe ? 1 : id + 1
    return id
  }

  /**
   * Write a request frame whose id is `id` (from takeId). `ex` null: oneway, not tracked.
   * `deadline` is absolute performance.now() ms (Infinity: none). Returns false when the
   * socket's buffer is full: the sender should stop feeding it until `waitDrain` calls back.
   */
  send (ex: BoltExchange | null, id: number, buf: Buffer, deadline: number): boolean {
    if (ex !== null) {
      this.#inflight.add(id, ex, deadline)
      if (deadline < this.#sweepAt) this.#armSweep(deadline)
    }
    this.#sent++
    if (this.options.maxRequests > 0 && this.#sent >= this.options.maxRequests) this.draining = true
    // Frames decoded from one downstream read go out in one writev (a syscall per frame was
    // 42% of the proxy's CPU in a profile). A small batch (an unpipelined client's one frame)
    // waits for the other reads of this event-loop turn (setImmediate: right after the poll
    // phase): with many clients on one upstream connection that was a write per request.
    const s = this.socket
    if (!this.#corked) { this.#corked = true; s.cork(); process.nextTick(endOfRead, this) } else if (s.writableLength + buf.length > s.writableHighWaterMark) {
      // Past the high-water mark the batch goes now: held, write() would report a full
      // buffer and pause the clients feeding this connection until it drained.
      s.uncork()
      s.cork()
    }
    const ok = s.write(buf)
    if (this.draining && this.#inflight.size === 0) this.close()
    return ok
  }

  /** Call `w.onUpstreamDrain(this)` once when the socket drains (or closes). */
  waitDrain (w: BoltDrainWaiter): void { this.#waiters.push(w) }

  handleDrain (): void {
    const w = this.#waiters
    if (w.length === 0) return
    this.#waiters = []
    for (let i = 0; i < w.length; i++) w[i].onUpstreamDrain(this)
  }

  /** Forget a request (the downstream went away); a late response is dropped and counted. */
  forget (id: number): void {
    if (this.#inflight.take(id) === undefined) return
    if (this.draining && this.#inflight.size === 0) this.close()
  }

  onBoltFrame (frame: BoltFrame): void {
    if (frame.type !== BoltType.RESPONSE) {
      // Upstreams do not call us; a GoAway means: finish what is in flight, send nothing new.
      if (frame.cmd === BoltCmd.GOAWAY) { this.draining = true; this.#owner.onConnectionClosed(this, true, 0); if (this.#inflight.size === 0) this.close() }
      return
    }
    const id = frame.requestId
    if (frame.cmd === BoltCmd.HEARTBEAT) {
      if (id === this.#hbPendingId) { this.#hbPendingId = -1; this.hb.onAck(); this.#scheduleHeartbeat(this.hb.interval) }
      return
    }
    const ex = this.#inflight.take(id)
    if (ex === undefined) { unknownResponses.inc(); return }
    this.hb.onResponse(clock())
    ex.onUpstreamResponse(frame)
    if (this.draining && this.#inflight.size === 0) this.close()
  }

  onBoltCodecError (): void {
    // An upstream that sends garbage is as good as dead.
    this.destroy()
  }

  /** Stop taking requests; close once in-flight requests are answered. */
  close (): void {
    this.draining = true
    if (this.#inflight.size === 0 && !this.closed) this.socket.end()
  }

  destroy (): void {
    if (!this.socket.destroyed) this.socket.destroy()
  }

  #armSweep (at: number): void {
    if (this.#sweepTimer !== null) clearTimeout(this.#sweepTimer)
    const t = clock()
    const delay = Math.max(MIN_SWEEP_MS, at - t)
    this.#sweepAt = t + delay
    this.#sweepTimer = setTimeout(onSweep, delay, this)
    this.#sweepTimer.unref()
  }

  /** Expire requests past their deadline; re-arm for the earliest remaining one. */
  sweep (): void {
    this.#sweepTimer = null
    this.#sweepAt = Infinity
    const now = performance.now()
    const expired: BoltExchange[] = []
    const next = this.#inflight.expire(now, expired)
    for (let i = 0; i < expired.length; i++) {
      this.hb.onRequestTimeout()
      expired[i].onUpstreamFailure(UpstreamFailure.Timeout)
    }
    if (next !== Infinity && !this.closed && next < this.#sweepAt) this.#armSweep(next)
    if (this.draining && this.#inflight.size === 0) this.close()
  }

  #scheduleHeartbeat (ms: number): void {
    if (this.closed) return
    if (this.#hbTimer === null) {
      this.#hbTimer = setTimeout(onHeartbeatTimer, ms, this)
      this.#hbTimer.unref()
    } else {
      clearTimeout(this.#hbTimer)
      this.#hbTimer = setTimeout(onHeartbeatTimer, ms, this)
      this.#hbTimer.unref()
    }
  }

  /** The heartbeat timer fired: check the pending heartbeat, or send one if idle. */
  heartbeatTick (): void {
    this.#hbTimer = null
    if (this.closed) return
    const now = performance.now()
    if (this.#hbPendingId !== -1) {
      // Unanswered (this socket is always read: no downstream can hold it): a failure. The next one goes out one base interval after the last send.
      this.#hbPendingId = -1
      heartbeatsFailed.inc()
      if (this.hb.onHeartbeatFailure()) { heartbeatClosed.inc(); this.destroy(); return }
      this.#scheduleHeartbeat(Math.max(0, this.#hbSentAt + this.hb.interval - now))
      return
    }
    if (this.hb.due(now) === HeartbeatAction.Skip) {
      this.#scheduleHeartbeat(Math.max(1, this.hb.lastResponseAt + this.hb.interval - now))
      return
    }
    const id = this.takeId()
    this.#hbPendingId = id
    this.#hbSentAt = now
    heartbeatsSent.inc()
    this.socket.write(encodeHeartbeat(id))
    this.#scheduleHeartbeat(this.hb.settings.timeoutMs)
  }

  handleConnect (): void {
    const verify = this.options.verifyPeer
    if (verify != null) {
      const refused = verify(this.socket as TLSSocket)
      if (refused !== null) { this.lastError = refused; this.socket.destroy(); return }
    }
    this.connected = true
    this.socket.setTimeout(0)
    upstreamSessions.inc(BOLT_LABELS)
    this.#scheduleHeartbeat(this.hb.interval)
    this.#owner.onConnectionReady(this)
  }

  /** After the downstream read that corked the socket: flush a big batch now, a small one at the end of the turn. */
  endOfRead (): void {
    if (!this.#corked || this.#deferred) return
    if (this.socket.writableLength >= SMALL_BATCH_BYTES) { this.uncork(); return }
    this.#deferred = true
    setImmediate(uncork, this)
  }

  uncork (): void { this.#corked = false; this.#deferred = false; this.socket.uncork() }

  handleData (chunk: Buffer): void {
    try {
      this.#decoder.push(chunk)
    } catch (err) {
      // A gateway bug below (calls catch their own): never the process; this connection is
      // in an unknown state, so it goes (its calls fail as reset).
      this.options.logger?.error({ err, host: `${this.options.host}:${this.options.port}` }, 'bolt upstream connection failed (internal error)')
      if (this.lastError === '') this.lastError = 'internal error'
      this.destroy()
    }
  }

  handleClose (): void {
    if (this.closed) return
    this.closed = true
    this.draining = true
    if (this.connected) upstreamSessions.dec(BOLT_LABELS)
    if (this.#sweepTimer !== null) clearTimeout(this.#sweepTimer)
    if (this.#hbTimer !== null) clearTimeout(this.#hbTimer)
    this.#sweepTimer = null
    this.#hbTimer = null
    const kind = this.connected ? UpstreamFailure.Reset : UpstreamFailure.Connect
    const pending = this.#inflight.takeAll()
    this.#owner.onConnectionClosed(this, this.connected, pending.length)
    for (const ex of pending) ex.onUpstreamFailure(kind)
    this.handleDrain() // nothing more will be written: paused downstreams read again
  }
}

const BOLT_LABELS = Object.freeze({ protocol: 'bolt' })
/** A corked batch under this many bytes waits for the end of the turn (~12 frames of a small request). */
const SMALL_BATCH_BYTES = 4096
const CONN = Symbol('isthmus.boltConnection')
type SocketWithConn = Socket & { [CONN]: BoltConnection }

// Module-level listeners (no closure per connection or request).
function onConnect (this: Socket): void { (this as SocketWithConn)[CONN].handleConnect() }
function onConnectTimeout (this: Socket): void {
  const c = (this as SocketWithConn)[CONN]
  if (!c.connected) { if (c.lastError === '') c.lastError = `connect timed out after ${c.options.connectTimeoutMs} ms`; this.destroy() }
}
function onData (this: Socket, chunk: Buffer): void {
  enterRead()
  try { (this as SocketWithConn)[CONN].handleData(chunk) } finally { leaveRead() }
}
function onError (this: Socket, err: Error): void {
  // 'close' follows and does the work; keep the first reason (a TLS peer refusal says why).
  const c = (this as SocketWithConn)[CONN]
  if (c.lastError === '') c.lastError = err.message
}
function onClose (this: Socket): void { (this as SocketWithConn)[CONN].handleClose() }
function onDrain (this: Socket): void { (this as SocketWithConn)[CONN].handleDrain() }
function uncork (c: BoltConnection): void { c.uncork() }
function endOfRead (c: BoltConnection): void { c.endOfRead() }
function onSweep (c: BoltConnection): void { c.sweep() }
function onHeartbeatTimer (c: BoltConnection): void { c.heartbeatTick() }
