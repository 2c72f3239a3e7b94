import http2, { type Http2Session, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { PeerIdentity } from '../call/identity.js'
import type { TripCell } from '../metrics.js'
import type { DownstreamSession, TripleCall } from '../proxy/triple-call.js'
import type { ConnSweep, Sweepable } from './conn-sweep.js'

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants

/** The session bounds of one listener (from `listeners.triple.limits`). */
export interface SessionLimits {
  readonly headersTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly goawayGraceMs: number
  readonly maxResets: number
  readonly resetWindowMs: number
  readonly maxBufferedBytes: number
}

/** Trip counters of the Triple listener, one cell per bound. */
export interface TripleTrips {
  readonly firstByte: TripCell
  readonly headers: TripCell
  readonly request: TripCell
  readonly idle: TripCell
  readonly goawayGrace: TripCell
  readonly streams: TripCell
  readonly bufferedBytes: TripCell
  readonly rapidReset: TripCell
}

/** What every guard of one listener shares (the listener). */
export interface GuardOwner {
  readonly limits: SessionLimits
  readonly trips: TripleTrips
  readonly sweep: ConnSweep
  /** Streams open over all sessions (the listener's `maxStreams` cap). */
  streams: number
  /** Connection-level receive window given to each session. */
  readonly connectionWindow: number
  onStream (g: SessionGuard, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void
  sessionClosed (g: SessionGuard): void
}

const kGuard = Symbol('isthmus.sessionGuard')
type Guarded = ServerHttp2Session & { [kGuard]?: SessionGuard }

/**
 * The hostile-client bounds of one downstream HTTP/2 session, checked by the listener's
 * sweep and on the few events that matter (call end, client reset, a response write that had
 * to wait): no timer per session or call.
 * - first stream within `headersTimeoutMs` (a preface trickled byte by byte never gets one);
 * - no call in flight for `idleTimeoutMs` -> GOAWAY (graceful close); bytes that complete no
 *   stream do not count as activity;
 * - more than `maxResets` client resets within `resetWindowMs` -> GOAWAY ENHANCE_YOUR_CALM;
 * - a session that sent or received GOAWAY is destroyed once its streams end (node's close)
 *   or when `goawayGraceMs` passed, whichever is first;
 * - response bytes held for it (stream write buffers, upstream data read for it and not yet
 *   written, the socket's write queue) over `maxBufferedBytes` -> destroyed. Only this session
 *   pays: the upstream streams feeding it are paused one by one, never an upstream session.
 */
export class SessionGuard implements Sweepable, DownstreamSession {
  readonly session: ServerHttp2Session
  /** The connection's own socket (not node's proxy of it, whose destroy() is the session's). */
  readonly socket: Socket
  readonly owner: GuardOwner
  /** The peer's address, read on the first call (an idle session never needs it). */
  #remote: string | null = null
  readonly peer: PeerIdentity | null
  readonly openedAt: number
  /** Calls in flight. */
  calls = 0
  /** Streams accepted so far. */
  opened = 0
  /** performance.now() when `calls` last dropped to 0. */
  idleSince: number
  /** Client resets in the window that started at `resetWindowAt`. */
  resets = 0
  resetWindowAt = 0
  /** performance.now() of the GOAWAY sent or received, 0 before. */
  goawayAt = 0
  /** Calls whose downstream writes had to wait (their buffered bytes are counted). */
  backlog: Set<TripleCall> | null = null
  /** performance.now() of the last liveness PING sent while calls were in flight. */
  probedAt: number
  /** A liveness PING is out and not yet seen leaving nghttp2. */
  probing = false
  /** The listener's sweep bucket (ConnSweep's own). */
  sweepSlot = -1

  constructor (owner: GuardOwner, session: ServerHttp2Session, socket: Socket, peer: PeerIdentity | null, now: number) {
    this.owner = owner
    this.session = session
    this.socket = socket
    this.peer = peer
    this.openedAt = now
    this.idleSince = now
    this.probedAt = now
    ;(session as Guarded)[kGuard] = this
  }

  get remote (): string { return (this.#remote ??= this.socket.remoteAddress ?? '') }

  /** Guard a new session: its event listeners are module-level and find the guard on it. Its
   *  end is its socket's 'close' (the listener's, which calls `owner.sessionClosed`): no
   *  'close' listener. 'goaway' is listened to: the sweep looks at a session only when one of
   *  its bounds may have passed, so a peer's GOAWAY must bring that look forward. */
  static attach (owner: GuardOwner, session: ServerHttp2Session, socket: Socket, peer: PeerIdentity | null): SessionGuard {
    session.on('error', onSessionError)
    const g = new SessionGuard(owner, session, socket, peer, performance.now())
    // The session's own 'stream' event (not the server's): it says which session the stream
    // came from even when the stream is already closed and has forgotten it.
    session.on('stream', onSessionStream)
    session.on('goaway', onSessionGoaway)
    // A server session is set up by the time 'session' is emitted: the window now, and no
    // 'connect' listener on every session (the fallback is for a session still connecting).
    try { session.setLocalWindowSize(owner.connectionWindow) } catch { session.on('connect', onSessionConnect) }
    owner.sweep.add(g)
    return g
  }

  static of (session: Http2Session | undefined): SessionGuard | undefined {
    return session === undefined ? undefined : (session as Guarded)[kGuard]
  }

  /** Sent or received GOAWAY, closing or gone: no new calls. */
  get closing (): boolean { return this.goawayAt !== 0 || this.session.closed || this.session.destroyed }

  /** Forwards wait one loop turn while this session has reset streams recently: node emits a
   *  stream before it reads the RST_STREAM that follows in the same packet. */
  get deferForward (): boolean { return this.resets !== 0 }

  callStarted (): void {
    // The first stream: the look asked for was the first-stream bound's, the probe's may be sooner.
    if (this.opened++ === 0) this.owner.sweep.add(this)
    this.calls++
  }

  callEnded (now: number): void {
    if (--this.calls === 0) this.idleSince = now
    if (this.backlog !== null && this.backlog.size === 0) this.backlog = null
  }

  /** The client reset a stream (or cancelled a call in flight). */
  clientReset (now: number): void {
    if (this.goawayAt !== 0 || this.session.destroyed) return
    if (this.resets === 0 || now - this.resetWindowAt >= this.owner.limits.resetWindowMs) {
      // A new window: the sweep clears it when it ends (deferForward), so it looks then.
      if (this.resets === 0) this.owner.sweep.add(this)
      this.resets = 0
      this.resetWindowAt = now
    }
    if (++this.resets > this.owner.limits.maxResets) {
      this.owner.trips.rapidReset.n++
      this.goaway(NGHTTP2_ENHANCE_YOUR_CALM, now)
    }
  }

  /** The peer sent GOAWAY (node closes or destroys the session itself; the grace bounds it). */
  goawayReceived (now: number): void {
    if (this.goawayAt === 0) { this.goawayAt = now; this.owner.sweep.add(this) } // the grace is sooner than the look asked for
  }

  /** Send GOAWAY: NO_ERROR closes gracefully (node destroys once streams end); an error code
   *  keeps in-flight calls only until the grace passes. */
  goaway (code: number, now: number): void {
    if (this.goawayAt !== 0) return
    this.goawayAt = now
    this.owner.sweep.add(this) // the grace is sooner than the look asked for
    const s = this.session
    if (s.destroyed) return
    try {
      if (code === NGHTTP2_NO_ERROR) s.close()
      else s.goaway(code, s.state.lastProcStreamID ?? 0)
    } catch {
      s.destroy()
    }
  }

  backlogged (call: TripleCall): void {
    if (this.backlog === null) { this.backlog = new Set(); this.owner.sweep.add(this) } // checked every tick from now on
    this.backlog.add(call)
    this.#checkBuffered(performance.now())
  }

  unbacklogged (call: TripleCall): void {
    this.backlog?.delete(call)
  }

  /** Bytes held for this client now (see the class comment). */
  bufferedBytes (): number {
    let n = writeQueueSize(this.socket)
    if (this.backlog !== null) for (const c of this.backlog) n += c.bufferedBytes()
    return n
  }

  #checkBuffered (now: number): boolean {
    if (this.bufferedBytes() <= this.owner.limits.maxBufferedBytes) return true
    this.owner.trips.bufferedBytes.n++
    if (this.goawayAt === 0) this.goawayAt = now
    this.destroy()
    return false
  }

  /** Now, whatever is queued: node's session.destroy() still waits for pending writes to
   *  flush before it closes the socket, and a client that reads nothing never lets them. */
  destroy (): void {
    this.session.destroy()
    this.socket.destroy()
  }

  /** The bounds due at `now`; returns when to look next (the earliest bound that can trip). */
  sweep (now: number): boolean | number {
    const s = this.session
    if (s.destroyed) return false
    const l = this.owner.limits
    // Closed without our GOAWAY seen (e.g. a close that raced the listener): the grace starts now.
    if (this.goawayAt === 0 && s.closed) this.goawayAt = now
    if (this.goawayAt !== 0) {
      if (now - this.goawayAt < l.goawayGraceMs) return this.backlog === null ? this.goawayAt + l.goawayGraceMs : this.#checkBuffered(now)
      this.owner.trips.goawayGrace.n++
      this.destroy()
      return false
    }
    if (this.resets !== 0 && now - this.resetWindowAt >= l.resetWindowMs) this.resets = 0
    if (this.backlog !== null && !this.#checkBuffered(now)) return false
    let next: number
    if (this.calls !== 0) {
      if (!this.#probe(now)) return false
      next = this.probing ? this.probedAt + Math.max(1000, l.goawayGraceMs) : this.#probeFrom() + l.idleTimeoutMs
    } else if (this.opened === 0) {
      if (now - this.openedAt >= l.headersTimeoutMs) { this.owner.trips.headers.n++; this.goaway(NGHTTP2_NO_ERROR, now); return true }
      next = this.openedAt + l.headersTimeoutMs
    } else if (now - this.idleSince >= l.idleTimeoutMs) {
      this.owner.trips.idle.n++
      this.goaway(NGHTTP2_NO_ERROR, now)
      return true
    } else next = this.idleSince + l.idleTimeoutMs
    if (this.backlog !== null) return true
    return this.resets !== 0 ? Math.min(next, this.resetWindowAt + l.resetWindowMs) : next
  }

  /** The probe clock: from the last PING, or from when the session last went idle (so a call
   *  starting needs no new look: the look asked for while idle is the probe's time, or earlier). */
  #probeFrom (): number { return Math.max(this.probedAt, this.idleSince) }

  /**
   * A session nghttp2 ended by itself (a connection error it answered with GOAWAY, e.g. a
   * frame over the max frame size) gives node no event: its streams stay open and the idle
   * bound never starts. Once per `idleTimeoutMs` with calls in flight, send a PING. A live
   * client acks it; on a terminated session nghttp2 never sends it. So: no ack after
   * `goawayGraceMs` (at least 1 s), the PING still in nghttp2's queue and nothing waiting on
   * the socket means no call on it can finish: close it now. (Both checks, and the wait, keep
   * a healthy session on a loaded machine, whose write may be in progress, from looking stuck.)
   */
  #probe (now: number): boolean {
    const s = this.session
    if (this.probing) {
      if (now - this.probedAt < Math.max(1000, this.owner.limits.goawayGraceMs)) return true
      this.probing = false
      const queued = s.state.outboundQueueSize ?? 0
      if (queued > 0 && writeQueueSize(this.socket) === 0) {
        this.owner.trips.goawayGrace.n++
        if (this.goawayAt === 0) this.goawayAt = now
        this.destroy()
        return false
      }
    } else if (now - this.#probeFrom() >= this.owner.limits.idleTimeoutMs) {
      this.probedAt = now
      try { this.probing = s.ping(this.#onPingAck ??= onPingAckFor(this)) } catch { this.probing = false }
    }
    return true
  }

  #onPingAck: (() => void) | null = null
}

/** Made on a session's first probe only (most sessions never need one). */
function onPingAckFor (g: SessionGuard): () => void {
  return () => { g.probing = false }
}

/** Refuse a stream we will do no work for (RST_STREAM REFUSED_STREAM: safe to retry). */
export function refuse (stream: ServerHttp2Stream): void {
  try {
    if (!stream.destroyed && !stream.closed) stream.close(NGHTTP2_REFUSED_STREAM)
  } catch {
    stream.destroy()
  }
}

function onSessionError (): void {} // 'close' follows; the guard cleans up there
function onStreamError (): void {} // likewise for a stream refused here

function onSessionStream (this: ServerHttp2Session, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
  const g = SessionGuard.of(this)
  if (g === undefined) { stream.on('error', onStreamError); refuse(stream); return }
  g.owner.onStream(g, stream, headers, flags)
}

function onSessionGoaway (this: ServerHttp2Session): void { SessionGuard.of(this)?.goawayReceived(performance.now()) }

function onSessionConnect (this: ServerHttp2Session): void {
  const g = SessionGuard.of(this)
  if (g !== undefined) { try { this.setLocalWindowSize(g.owner.connectionWindow) } catch {} }
}

/** Bytes queued on the socket below node's HTTP/2 layer (one write batch at most). */
function writeQueueSize (socket: Socket): number {
  const h = (socket as { _handle?: { writeQueueSize?: number } | null })._handle
  return h?.writeQueueSize ?? 0
}
