import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders, type SecureClientSessionOptions } from 'node:http2'
import type { Logger } from 'pino'
import type { Host } from '../cluster/host.js'
import { upstreamSessions } from '../metrics.js'

export interface H2PoolOptions {
  /** Streams per session before another session is opened. */
  maxConcurrentStreams: number
  /** Sessions per host at most; past that, streams queue on the least loaded session. */
  maxSessions: number
  connectTimeoutMs: number
  /** TLS client options (mTLS to a peer gateway), null for h2c. */
  tls: SecureClientSessionOptions | null
  /** Called once a TLS session is up; return an error message to refuse the peer. */
  verifyPeer: ((session: ClientHttp2Session) => string | null) | null
}

const kActive = Symbol('isthmus.activeStreams')
const kPool = Symbol('isthmus.pool')
const kTimer = Symbol('isthmus.connectTimer')

type PooledSession = ClientHttp2Session & { [kActive]: number, [kPool]: H2Pool, [kTimer]: NodeJS.Timeout | null }
type PooledStream = ClientHttp2Stream & { [kPool]: PooledSession | null }

// Shared request options (node copies what it needs; no object per stream).
const END_STREAM = Object.freeze({ endStream: true, waitForTrailers: false })
const OPEN = Object.freeze({ endStream: false, waitForTrailers: false })

const SESSION_LABELS = Object.freeze({ protocol: 'triple' })

/**
 * HTTP/2 sessions to one upstream host, with a per-session cap on concurrent streams
 * (min of ours and the peer's SETTINGS). Event handlers are module-level and find their
 * state on the session/stream under symbols: no closure per stream.
 */
export class H2Pool {
  readonly host: Host
  readonly #opts: H2PoolOptions
  readonly #logger: Logger
  readonly #authority: string
  #sessions: PooledSession[] = []
  #closing: Promise<void> | null = null

  constructor (host: Host, opts: H2PoolOptions, logger: Logger) {
    this.host = host
    this.#opts = opts
    this.#logger = logger
    this.#authority = `${opts.tls !== null ? 'https' : 'http'}://${host.id}`
  }

  get sessionCount (): number { return this.#sessions.length }

  /**
   * Open a stream. Node queues it while the session connects; errors arrive as stream events.
   * With `release` true the caller promises to call `H2Pool.release(stream)` from its own
   * 'close' handler (one listener less per stream on the hot path); else the pool listens.
   */
  request (headers: OutgoingHttpHeaders, endStream: boolean, release = false): ClientHttp2Stream {
    const s = this.#pick()
    s[kActive]++
    const stream = s.request(headers, endStream ? END_STREAM : OPEN) as PooledStream
    stream[kPool] = s
    if (!release) stream.on('close', onStreamClose)
    return stream
  }

  /** The stream closed: its slot on the session is free. Idempotent. */
  static release (stream: ClientHttp2Stream): void {
    const p = stream as PooledStream
    const s = p[kPool]
    if (s === null) return
    p[kPool] = null
    s[kActive]--
  }

  #pick (): PooledSession {
    let best: PooledSession | null = null
    const list = this.#sessions
    for (let i = 0; i < list.length; i++) {
      const s = list[i]
      if (s.closed || s.destroyed || (s as { goawayReceived?: boolean }).goawayReceived === true) continue
      if (s[kActive] < this.#cap(s)) return s
      if (best === null || s[kActive] < best[kActive]) best = s
    }
    if (best === null || list.length < this.#opts.maxSessions) return this.#connect()
    return best
  }

  #cap (s: PooledSession): number {
    const remote = s.remoteSettings?.maxConcurrentStreams
    return remote !== undefined && remote < this.#opts.maxConcurrentStreams ? remote : this.#opts.maxConcurrentStreams
  }

  #connect (): PooledSession {
    const o = this.#opts
    const options: SecureClientSessionOptions = {
      ...(o.tls ?? {}),
      // Large windows: a gateway should not be the flow-control bottleneck.
      settings: { initialWindowSize: 1 << 20, enablePush: false },
      maxSessionMemory: 64,
    }
    const s = http2.connect(this.#authority, options) as PooledSession
    s[kActive] = 0
    s[kPool] = this
    s[kTimer] = setTimeout(onConnectTimeout, o.connectTimeoutMs, s)
    s[kTimer].unref()
    s.on('connect', onSessionConnect)
    s.on('error', onSessionError)
    s.on('goaway', onSessionGoaway)
    s.on('close', onSessionClose)
    s.setMaxListeners(0)
    this.#sessions.push(s)
    upstreamSessions.inc(SESSION_LABELS)
    return s
  }

  /** Remove a dead or draining session from the pick list. */
  static forget (s: PooledSession): void {
    const pool = s[kPool]
    const i = pool.#sessions.indexOf(s)
    if (i !== -1) { pool.#sessions.splice(i, 1); upstreamSessions.dec(SESSION_LABELS) }
  }

  static onConnected (s: PooledSession): void {
    const pool = s[kPool]
    if (s[kTimer] !== null) { clearTimeout(s[kTimer]); s[kTimer] = null }
    const refuse = pool.#opts.verifyPeer?.(s) ?? null
    if (refuse !== null) {
      pool.#logger.warn({ host: pool.host.id, reason: refuse }, 'upstream peer refused')
      s.destroy(new Error(refuse))
      return
    }
    pool.host.recordSuccess()
  }

  static onFailed (s: PooledSession, err: Error): void {
    const pool = s[kPool]
    pool.#logger.warn({ host: pool.host.id, err: err.message }, 'upstream session error')
  }

  /** Graceful: no new streams; existing streams finish, then sessions close. */
  close (): Promise<void> {
    if (this.#closing !== null) return this.#closing
    const sessions = this.#sessions.slice()
    this.#closing = Promise.all(sessions.map(s => new Promise<void>(resolve => {
      if (s.closed || s.destroyed) { resolve(); return }
      s.close(() => resolve())
    }))).then(() => {})
    return this.#closing
  }

  destroy (): void {
    for (const s of this.#sessions.slice()) s.destroy()
  }
}

function onStreamClose (this: PooledStream): void { H2Pool.release(this) }

function onConnectTimeout (s: PooledSession): void {
  s[kTimer] = null
  if (!s.connecting) return
  s.destroy(new Error('connect timeout'))
}

function onSessionConnect (this: PooledSession): void { H2Pool.onConnected(this) }
function onSessionError (this: PooledSession, err: Error): void { H2Pool.onFailed(this, err) }
function onSessionGoaway (this: PooledSession): void { H2Pool.forget(this) }
function onSessionClose (this: PooledSession): void {
  if (this[kTimer] !== null) { clearTimeout(this[kTimer]); this[kTimer] = null }
  H2Pool.forget(this)
}
