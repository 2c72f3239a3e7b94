import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders, type SecureClientSessionOptions } from 'node:http2'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { Host } from '../cluster/host.js'
import type { ClusterHealth } from '../cluster/outlier.js'
import { upstreamSessions } from '../metrics.js'
import { WaitQueue, type Waiter } from './wait-queue.js'

export interface H2PoolOptions {
  /** Streams per session before another session is opened. */
  maxConcurrentStreams: number
  /** Sessions per host at most; past that, calls wait for a free stream slot. */
  maxSessions: number
  connectTimeoutMs: number
  /** Calls that may wait for a slot when every session is at its cap (0: none). */
  maxPending: number
  pendingTimeoutMs: number
  /** TLS client options (mTLS to a peer gateway), null for h2c. */
  tls: SecureClientSessionOptions | null
  /** Called once a TLS session is up; return an error message to refuse the peer. */
  verifyPeer: ((session: ClientHttp2Session) => string | null) | null
}

/** A call waiting for a stream slot (the pool keeps no closure for it). */
export interface PoolWaiter extends Waiter {
  /** A slot is free: `request()` now succeeds. */
  onPoolSlot (pool: H2Pool): void
  /** No slot within `pendingTimeoutMs` (or the pool was destroyed). */
  onPoolTimeout (pool: H2Pool): void
}

const kActive = Symbol('isthmus.activeStreams')
const kPool = Symbol('isthmus.pool')
const kTimer = Symbol('isthmus.connectTimer')
const kSettled = Symbol('isthmus.settled')
const kError = Symbol('isthmus.sessionError')
const kCancelAt = Symbol('isthmus.cancelAt')
const kSession = Symbol('isthmus.pooledSession')
const kReleased = Symbol('isthmus.released')
const kLost = Symbol('isthmus.lossCounted')
const kCounted = Symbol('isthmus.countedIn')
const kRaw = Symbol('isthmus.rawSocket')

type PooledSession = ClientHttp2Session & {
  [kActive]: number
  [kPool]: H2Pool
  [kTimer]: NodeJS.Timeout | null
  /** The peer's SETTINGS arrived: the HTTP/2 connection is established. */
  [kSettled]: boolean
  /** Why the session failed before it was established ('' when unknown). */
  [kError]: string
  /** performance.now() of the last stream we cancelled on it, 0 when none. */
  [kCancelAt]: number
  /** Its loss was counted against the host once already. */
  [kLost]: boolean
  /** The cluster whose `connections` count it is in (circuit breakers). */
  [kCounted]: ClusterHealth | null
  /** The socket under it (node hands it to 'connect'; `session.socket` is a proxy that cannot destroy). */
  [kRaw]: Socket | null
}
type PooledStream = ClientHttp2Stream & { [kSession]: PooledSession, [kReleased]: boolean }

// Shared request options (node copies what it needs; no object per stream).
const END_STREAM = Object.freeze({ endStream: true, waitForTrailers: false })
const OPEN = Object.freeze({ endStream: false, waitForTrailers: false })

const SESSION_LABELS = Object.freeze({ protocol: 'triple' })
/** Stream window we advertise to upstreams (SETTINGS_INITIAL_WINDOW_SIZE). */
const STREAM_WINDOW = 1 << 20
const MAX_WINDOW = 2 ** 31 - 1
/**
 * An upstream failure this soon after we cancelled a stream on the same session may be the
 * upstream's answer to our cancels (node/nghttp2 allow a burst of 1000 resets, then ~33/s,
 * before GOAWAY): it does not count against the host.
 */
const CANCEL_SHADOW_MS = 10_000

/**
 * HTTP/2 sessions to one upstream host, with a per-session cap on concurrent streams
 * (min of ours and the peer's SETTINGS) and a bounded wait for a slot when every session
 * is full. Event handlers are module-level and find their state on the session/stream under
 * symbols: no closure per stream or waiter.
 */
export class H2Pool {
  readonly host: Host
  readonly #opts: H2PoolOptions
  readonly #logger: Logger
  readonly #authority: string
  /** Connection-level receive window: every stream may fill its own window without
   *  stalling the others (one stream paused for a slow client must not stop the session). */
  readonly #connWindow: number
  readonly #queue = new WaitQueue<PoolWaiter>()
  #pendingTimer: NodeJS.Timeout | null = null
  #sessions: PooledSession[] = []
  #closing: Promise<void> | null = null
  /** The cluster's breakers (maxConnections); set by the registry. */
  health: ClusterHealth | null = null

  constructor (host: Host, opts: H2PoolOptions, logger: Logger) {
    this.host = host
    this.#opts = opts
    this.#logger = logger
    this.#authority = `${opts.tls !== null ? 'https' : 'http'}://${host.id}`
    this.#connWindow = Math.min(MAX_WINDOW, Math.max(65535, opts.maxConcurrentStreams * STREAM_WINDOW))
  }

  get sessionCount (): number { return this.#sessions.length }
  /** Calls waiting for a stream slot. */
  get pending (): number { return this.#queue.size }

  /**
   * Open a stream, or return null when every session is at its cap and no session may be
   * added (then `wait()`). Node queues the stream while a session connects; errors arrive as
   * stream events. Throws what node throws for invalid headers (nothing is counted then).
   * With `release` true the caller promises to call `H2Pool.release(stream)` from its own
   * 'close' handler (one listener less per stream on the hot path); else the pool listens.
   */
  request (headers: OutgoingHttpHeaders, endStream: boolean, release = false): ClientHttp2Stream | null {
    const s = this.#pick()
    if (s === null) return null
    const stream = s.request(headers, endStream ? END_STREAM : OPEN) as PooledStream
    s[kActive]++
    stream[kSession] = s
    stream[kReleased] = false
    if (!release) stream.on('close', onStreamClose)
    return stream
  }

  /** Queue a waiter for the next free slot; false when `maxPending` are waiting already. */
  wait (w: PoolWaiter): boolean {
    if (this.#queue.size >= this.#opts.maxPending || this.#closing !== null) return false
    const now = performance.now()
    this.#queue.push(w, now)
    if (this.#pendingTimer === null) this.#armPendingTimer(now)
    return true
  }

  /** A waiter gave up (its call ended). Idempotent. */
  cancelWait (w: PoolWaiter): void {
    this.#queue.remove(w)
  }

  /** The stream closed: its slot on the session is free. Idempotent. */
  static release (stream: ClientHttp2Stream): void {
    const p = stream as PooledStream
    if (p[kReleased] !== false) return
    p[kReleased] = true
    const s = p[kSession]
    s[kActive]--
    const pool = s[kPool]
    if (pool.#queue.size > 0) pool.#wake()
  }

  /**
   * The stream's session never became an HTTP/2 connection (DNS failure, refused, reset on
   * accept, TLS or peer check failed): why, else null. `streamError` is the stream's own
   * error, whose cause node sets to the session's error before the session reports it.
   */
  static connectFailure (stream: ClientHttp2Stream, streamError: Error | null): string | null {
    const s = (stream as PooledStream)[kSession]
    if (s === undefined || s[kSettled]) return null
    if (s[kError] !== '') return s[kError]
    const cause = streamError?.cause
    if (cause instanceof Error) return cause.message
    return 'connection closed before the HTTP/2 handshake completed'
  }

  /** We are cancelling this stream (client cancel, deadline): remember it on the session. */
  static noteCancel (stream: ClientHttp2Stream, now: number): void {
    const s = (stream as PooledStream)[kSession]
    if (s !== undefined) s[kCancelAt] = now
  }

  /**
   * Whether this stream's failure is the first of its session's loss (a session that never
   * connected or died): a lost connection is ONE failure of the host, not one per stream it
   * carried. A stream reset on a live session is its own failure (true every time).
   */
  static firstLoss (stream: ClientHttp2Stream): boolean {
    const s = (stream as PooledStream)[kSession]
    if (s === undefined) return true
    if (s[kSettled] && !s.destroyed && !s.closed) return true
    return H2Pool.lossOnce(stream)
  }

  /**
   * A stream that closed without a response and without an error code: its connection is being
   * lost (nghttp2 closes the streams on EOF before node marks the session destroyed), so only
   * the first such stream of the session counts.
   */
  static lossOnce (stream: ClientHttp2Stream): boolean {
    const s = (stream as PooledStream)[kSession]
    if (s === undefined) return true
    if (s[kLost]) return false
    s[kLost] = true
    return true
  }

  /** The stream's session carried a cancel of ours within CANCEL_SHADOW_MS of `now`. */
  static cancelledRecently (stream: ClientHttp2Stream, now: number): boolean {
    const s = (stream as PooledStream)[kSession]
    return s !== undefined && s[kCancelAt] !== 0 && now - s[kCancelAt] < CANCEL_SHADOW_MS
  }

  #pick (): PooledSession | null {
    // Closing: no new streams, and above all no new session (a copy or a retry started late
    // would dial a host after the gateway closed and keep the process, or an embedder, waiting).
    if (this.#closing !== null) return null
    const list = this.#sessions
    let usable = 0
    for (let i = 0; i < list.length; i++) {
      const s = list[i]
      if (s.closed || s.destroyed || (s as { goawayReceived?: boolean }).goawayReceived === true) continue
      usable++
      if (s[kActive] < this.#cap(s)) return s
    }
    // Sessions that died but are not forgotten yet do not hold the place of a live one.
    if (usable === 0 || list.length < this.#opts.maxSessions) {
      if (this.health !== null && !this.health.admitConnection()) return null // the cluster's maxConnections
      return this.#connect()
    }
    return null
  }

  #cap (s: PooledSession): number {
    const remote = s.remoteSettings?.maxConcurrentStreams
    return remote !== undefined && remote < this.#opts.maxConcurrentStreams ? remote : this.#opts.maxConcurrentStreams
  }

  /** Would `request()` find or open a session now? */
  #hasSlot (): boolean {
    if (this.#closing !== null) return false
    const list = this.#sessions
    let usable = 0
    for (let i = 0; i < list.length; i++) {
      const s = list[i]
      if (s.closed || s.destroyed || (s as { goawayReceived?: boolean }).goawayReceived === true) continue
      usable++
      if (s[kActive] < this.#cap(s)) return true
    }
    return usable === 0 || list.length < this.#opts.maxSessions
  }

  /** Hand free slots to waiters, oldest first. */
  #wake (): void {
    while (this.#queue.size > 0 && this.#closing === null && this.#hasSlot()) {
      const w = this.#queue.shift()!
      try { w.onPoolSlot(this) } catch (err) {
        this.#logger.error({ host: this.host.id, err: err instanceof Error ? err.message : String(err) }, 'pool waiter failed')
      }
    }
  }

  #armPendingTimer (now: number): void {
    const delay = Math.max(1, this.#queue.peekTime() + this.#opts.pendingTimeoutMs - now)
    this.#pendingTimer = setTimeout(onPendingTimer, delay, this)
    this.#pendingTimer.unref()
  }

  static pendingTick (pool: H2Pool): void {
    pool.#pendingTimer = null
    const now = performance.now()
    const q = pool.#queue
    while (q.size > 0 && now - q.peekTime() >= pool.#opts.pendingTimeoutMs) {
      const w = q.shift()!
      try { w.onPoolTimeout(pool) } catch {}
    }
    if (q.size > 0) pool.#armPendingTimer(now)
  }

  #connect (): PooledSession {
    const o = this.#opts
    const options: SecureClientSessionOptions = {
      ...(o.tls ?? {}),
      // Large windows: a gateway should not be the flow-control bottleneck.
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      maxSessionMemory: 64,
    }
    const s = http2.connect(this.#authority, options) as PooledSession
    s[kActive] = 0
    s[kPool] = this
    s[kSettled] = false
    s[kError] = ''
    s[kCancelAt] = 0
    s[kLost] = false
    s[kCounted] = this.health
    s[kRaw] = null
    if (this.health !== null) this.health.connections++
    s.on('error', onSessionError)
    s[kTimer] = setTimeout(onConnectTimeout, o.connectTimeoutMs, s)
    s[kTimer].unref()
    s.on('connect', onSessionConnect)
    s.on('remoteSettings', onSessionSettings)
    s.on('goaway', onSessionGoaway)
    s.on('close', onSessionClose)
    s.setMaxListeners(0)
    this.#sessions.push(s)
    upstreamSessions.inc(SESSION_LABELS)
    return s
  }

  /** Remove a dead or draining session from the pick list; waiters may open a new one. */
  static forget (s: PooledSession): void {
    const pool = s[kPool]
    const i = pool.#sessions.indexOf(s)
    if (i !== -1) { pool.#sessions.splice(i, 1); upstreamSessions.dec(SESSION_LABELS) }
    if (s[kCounted] !== null && (s.closed || s.destroyed)) { s[kCounted].connections--; s[kCounted] = null }
    if (pool.#queue.size > 0) pool.#wake()
  }

  static onConnected (s: PooledSession): void {
    const pool = s[kPool]
    const refuse = pool.#opts.verifyPeer?.(s) ?? null
    if (refuse !== null) {
      pool.#logger.warn({ host: pool.host.id, reason: refuse }, 'upstream peer refused')
      if (s[kError] === '') s[kError] = refuse
      s.destroy(new Error(refuse))
      return
    }
    try { s.setLocalWindowSize(pool.#connWindow) } catch {}
  }

  static onSettled (s: PooledSession): void {
    if (s[kSettled]) return
    s[kSettled] = true
    if (s[kTimer] !== null) { clearTimeout(s[kTimer]); s[kTimer] = null }
    s[kPool].host.recordSuccess()
  }

  static onConnectTimeout (s: PooledSession): void {
    s[kTimer] = null
    if (s[kSettled] || s.destroyed) return
    if (s[kError] === '') s[kError] = `connect timed out after ${s[kPool].#opts.connectTimeoutMs} ms`
    s.destroy(new Error('connect timeout'))
  }

  static onFailed (s: PooledSession, err: Error): void {
    const pool = s[kPool]
    if (!s[kSettled] && s[kError] === '') s[kError] = err.message
    pool.#logger.warn({ host: pool.host.id, err: err.message }, 'upstream session error')
  }

  /**
   * Graceful: no new streams; existing streams finish, then sessions close. With `graceMs`,
   * a session still open after it is destroyed: a session whose peer never completes the
   * handshake or never ends its streams would otherwise hold close() (and an embedder) forever.
   */
  close (graceMs?: number): Promise<void> {
    if (this.#closing !== null) return this.#closing
    const sessions = this.#sessions.slice()
    this.#closing = Promise.all(sessions.map(s => new Promise<void>(resolve => {
      if (s.closed || s.destroyed) { resolve(); return }
      s.close(() => resolve())
      if (graceMs !== undefined) setTimeout(destroySession, graceMs, s).unref()
    }))).then(() => {})
    this.#failWaiters()
    return this.#closing
  }

  destroy (): void {
    this.#closing ??= Promise.resolve()
    this.#failWaiters()
    for (const s of this.#sessions.slice()) s.destroy()
  }

  #failWaiters (): void {
    if (this.#pendingTimer !== null) { clearTimeout(this.#pendingTimer); this.#pendingTimer = null }
    for (let w = this.#queue.shift(); w !== null; w = this.#queue.shift()) {
      try { w.onPoolTimeout(this) } catch {}
    }
  }
}

function onStreamClose (this: PooledStream): void { H2Pool.release(this) }
function onPendingTimer (pool: H2Pool): void { H2Pool.pendingTick(pool) }

function onConnectTimeout (s: PooledSession): void { H2Pool.onConnectTimeout(s) }

function onSessionConnect (this: PooledSession, _session: ClientHttp2Session, socket: Socket): void {
  this[kRaw] = socket
  H2Pool.onConnected(this)
}
function onSessionSettings (this: PooledSession): void { H2Pool.onSettled(this) }
function onSessionError (this: PooledSession, err: Error): void { H2Pool.onFailed(this, err) }
function onSessionGoaway (this: PooledSession): void { H2Pool.forget(this) }
function onSessionClose (this: PooledSession): void {
  if (this[kTimer] !== null) { clearTimeout(this[kTimer]); this[kTimer] = null }
  H2Pool.forget(this)
}

/**
 * The close grace ran out. Destroying the session is not enough when its peer stopped reading:
 * node then waits for the socket's pending writes to flush before it emits 'close', which a
 * peer that never reads never allows. The raw socket (from 'connect') goes too.
 */
function destroySession (s: PooledSession): void {
  if (!s.destroyed) s.destroy()
  const raw = s[kRaw]
  if (raw !== null && !raw.destroyed) raw.destroy()
}
