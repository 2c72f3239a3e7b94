import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { encodeGrpcMessage, type LocalReply } from '../chain/local-reply.js'
import { ObjectHeaders } from '../call/headers.js'
import { Phase } from '../call/phase.js'
import type { Snapshot } from '../config/snapshot.js'
import { GrpcStatus } from '../errors.js'
import { limitTrips } from '../metrics.js'
import { decodeTripleCall, isGrpcContentType } from '../protocol/triple/decode.js'
import type { DeadlineWheel } from '../util/deadline-wheel.js'
import { H2Pool, type PoolWaiter } from '../upstream/h2-pool.js'
import type { H2PoolRegistry } from '../upstream/h2-pool-registry.js'
import type { ForwardBatch } from './forward-batch.js'
import { ProxiedCall } from './proxied-call.js'
import { internalError, logInternal } from './triple-boundary.js'
import { continueH2Response, forwardH2, retryAfterTryTimeout } from './triple-h2.js'
import { openTripleSide } from './triple-side.js'
import type { SideRefusal, SideRequest, SideSpec } from '../call/side.js'
import { abandonHttp1, continueHttp1Response, forwardHttp1, type Http1Upstream } from './triple-http1.js'
import { BAD_PATH, DEADLINE_BEFORE_SEND, protocolMismatch, unaryErrorBody, upstreamOverloaded, upstreamTimeout } from './triple-replies.js'

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants

/** What every Triple call on one listener shares. */
export interface TripleDeps {
  readonly pools: H2PoolRegistry
  readonly deadlines: DeadlineWheel<TripleCall>
  readonly logger: Logger
  /** Deferred forwards of sessions that reset streams recently. */
  readonly batch: ForwardBatch
  /** How long a call past its deadline may take to get its trailers out (`goawayGraceMs`). */
  readonly graceMs: number
}

/** What the downstream HTTP/2 session keeps about its calls (listener/h2-session-guard.ts). */
export interface DownstreamSession {
  /** Forward one loop turn later (the session reset streams recently). */
  readonly deferForward: boolean
  callEnded (now: number): void
  /** A response write on this call had to wait: its buffered bytes count for the session. */
  backlogged (call: TripleCall): void
  unbacklogged (call: TripleCall): void
}

const PENDING_TRIPS = limitTrips('triple', 'pending')

/**
 * One Triple/gRPC call: downstream HTTP/2 stream (or HTTP/1.1 request for Triple unary), the
 * upstream stream, and the state between them. Stream events go to module-level handlers
 * (triple-h2.ts, triple-http1.ts) that find the call under `kCall`: no closures per call.
 * Every entry from node into a call runs inside a catch boundary (triple-boundary.ts).
 */
export class TripleCall extends ProxiedCall implements PoolWaiter {
  readonly deps: TripleDeps
  /** gRPC framing and trailers (application/grpc*), else Triple unary (HTTP status + body). */
  readonly grpc: boolean
  readonly down: ServerHttp2Stream | null
  readonly req1: IncomingMessage | null
  readonly res1: ServerResponse | null
  /** The downstream HTTP/2 session's bookkeeping; null for HTTP/1.1. */
  readonly session: DownstreamSession | null
  /** The request headers (node's object, forwarded as is unless a filter edits them). */
  readonly raw: IncomingHttpHeaders
  /** Downstream request already ended when the headers arrived (no body). */
  readonly endOnHeaders: boolean
  up: ClientHttp2Stream | null
  /** Upstream state when the cluster speaks HTTP/1.1. */
  h1: Http1Upstream | null
  /** Upstream sent END_STREAM (or the HTTP/1.1 response ended). */
  upEnded: boolean
  /** Response headers were sent downstream. */
  responded: boolean
  trailersOnly: boolean
  upTrailers: IncomingHttpHeaders | null
  localTrailers: OutgoingHttpHeaders | null
  /** 'drain' listeners attached so far (DRAIN_UP, DRAIN_DOWN): only once a write said wait. */
  drainWatch: number
  /** The upstream stream's error, if any (its cause says why a connect failed). */
  upError: Error | null
  /** We paused the upstream stream because the downstream could not take more. */
  heldUp: boolean
  /** In the downstream session's backlog (its buffered bytes are counted). */
  backlogged: boolean
  /** We reset the downstream stream ourselves (so its close is no client reset). */
  localReset: boolean
  /** The pool this call waits on for a stream slot, and its place there (PoolWaiter). */
  waitPool: H2Pool | null
  waitSeq: number
  /** Request bytes kept for a retry (route `retry`), null when none are kept. */
  replay: Buffer[] | null
  replayBytes: number
  /** The request outgrew `maxBodyBytes`: it cannot be sent again. */
  replayLost: boolean
  /** The downstream request ended. */
  downEnded: boolean
  /** The response's status was reported to outlier detection already. */
  outcomeCounted: boolean

  constructor (snapshot: Snapshot, deps: TripleDeps, raw: IncomingHttpHeaders, remoteAddress: string,
    down: ServerHttp2Stream | null, req1: IncomingMessage | null, res1: ServerResponse | null, endOnHeaders: boolean,
    session: DownstreamSession | null) {
    super('triple', 'triple', new ObjectHeaders(raw as Record<string, string | string[] | undefined>), remoteAddress, snapshot, deps.logger)
    this.deps = deps
    this.grpc = isGrpcContentType(raw['content-type'])
    this.down = down
    this.req1 = req1
    this.res1 = res1
    this.session = session
    this.raw = raw
    this.endOnHeaders = endOnHeaders
    this.up = null
    this.h1 = null
    this.upEnded = false
    this.responded = false
    this.trailersOnly = false
    this.upTrailers = null
    this.localTrailers = null
    this.drainWatch = 0
    this.upError = null
    this.heldUp = false
    this.backlogged = false
    this.localReset = false
    this.waitPool = null
    this.waitSeq = -1
    this.replay = null
    this.replayBytes = 0
    this.replayLost = false
    this.downEnded = false
    this.outcomeCounted = false
  }

  /** Leave the pool's wait queue (and the cluster's pending count). */
  stopWaiting (): void {
    const p = this.waitPool
    if (p === null) return
    this.waitPool = null
    p.cancelWait(this)
    if (this.held !== null) this.held.pending--
  }

  /** Decode and run the request phases (the listener calls it inside its catch boundary). */
  begin (): boolean {
    if (!decodeTripleCall(this, this.raw)) {
      this.fail(BAD_PATH)
      return false
    }
    this.start()
    if (this.phase !== Phase.End) this.deps.deadlines.add(this)
    return true
  }

  /** Taps see the bytes of calls to HTTP/2 clusters (the HTTP/1.1 paths pipe them through a library). */
  protected override canTap (): boolean { return this.cluster !== null && this.cluster.protocol === 'triple' }

  override openSide (spec: SideSpec): SideRequest | SideRefusal { return openTripleSide(this, spec) }

  protected forward (): void {
    if (this.session !== null && this.session.deferForward) { this.deps.batch.push(this); return }
    this.forwardNow()
  }

  /** Open the upstream side now, unless the call ended or the client went away meanwhile
   *  (a reset stream never reaches the upstream). Never throws. */
  forwardNow (): void {
    if (this.phase !== Phase.Upstream) return
    if (this.downGone()) { this.cancelled(); return }
    try {
      const cluster = this.cluster!
      if (cluster.protocol === 'http1') forwardHttp1(this)
      else if (cluster.protocol === 'triple') forwardH2(this)
      else this.fail(protocolMismatch(cluster.name, cluster.protocol))
    } catch (err) {
      internalError(this, err, 'forward')
    }
  }

  /** The downstream stream or request is closed or reset already. */
  downGone (): boolean {
    const d = this.down
    if (d !== null) return d.closed || d.destroyed
    const res = this.res1!
    return res.destroyed || res.socket === null || res.socket.destroyed
  }

  /** PoolWaiter: a stream slot on the upstream host is free. */
  onPoolSlot (_pool: H2Pool): void {
    this.stopWaiting()
    if (this.phase !== Phase.Upstream) return
    try { forwardH2(this) } catch (err) { internalError(this, err, 'forward') }
  }

  /** PoolWaiter: no slot within `pendingTimeoutMs`. */
  onPoolTimeout (pool: H2Pool): void {
    this.stopWaiting()
    if (this.phase !== Phase.Upstream) return
    this.overloaded(pool)
  }

  /** Every session to the host is at its cap and the wait for a slot is full or over. */
  overloaded (pool: H2Pool): void {
    PENDING_TRIPS.n++
    this.fail(upstreamOverloaded(pool.host.id))
  }

  protected continueResponse (): void {
    try {
      if (this.h1 !== null) continueHttp1Response(this, this.h1)
      else continueH2Response(this)
    } catch (err) {
      internalError(this, err, 'response')
    }
  }

  protected sendLocalReply (reply: LocalReply): void {
    try {
      this.#sendLocalReply(reply)
    } catch (err) {
      // The reply itself failed (the stream's state changed under us): drop the stream.
      logInternal(this.logger, err, 'reply', this.service)
      try {
        if (this.down !== null) { this.localReset = true; if (!this.down.destroyed) this.down.close(NGHTTP2_INTERNAL_ERROR) } else this.res1?.destroy()
      } catch {}
      this.end(this.status)
    }
  }

  #sendLocalReply (reply: LocalReply): void {
    this.abandonUpstream()
    if (this.down !== null) {
      const down = this.down
      if (down.destroyed || down.closed) { this.end(this.status); return }
      if (!this.responded && !down.headersSent) {
        this.responded = true
        if (this.grpc) {
          down.respond(reply.tripleHeaders as OutgoingHttpHeaders, { endStream: true })
        } else {
          down.respond({ ':status': reply.httpStatus, 'content-type': 'application/json' })
          down.end(unaryErrorBody(reply))
        }
        // Discard any request body still arriving; the reply is complete.
        if (!down.readableEnded) down.resume()
        this.end(this.status)
        return
      }
      // Mid-response (deadline, upstream reset): end with trailers carrying the status.
      if (this.grpc) {
        this.localTrailers = { 'grpc-status': String(reply.grpcStatus), 'grpc-message': encodeGrpcMessage(reply.message) }
        if (!down.writableEnded) down.end()
        else this.end(this.status)
      } else {
        this.localReset = true
        down.close(NGHTTP2_INTERNAL_ERROR)
        this.end(this.status)
      }
      return
    }
    const res = this.res1!
    if (!res.headersSent) {
      res.writeHead(reply.httpStatus, { 'content-type': 'application/json' })
      res.end(unaryErrorBody(reply))
      if (this.req1 !== null && !this.req1.readableEnded) this.req1.resume()
    } else {
      res.destroy()
    }
    this.end(this.status)
  }

  /** Detach from the upstream stream (or pool wait) and cancel the stream if it still runs. */
  abandonUpstream (): void {
    this.stopWaiting()
    if (this.h1 !== null) {
      abandonHttp1(this.h1)
      this.h1 = null
      if (this.host !== null) this.host.active--
      return
    }
    const up = this.up
    if (up === null) return
    this.up = null
    if (this.host !== null) this.host.active--
    if (!up.closed && !up.destroyed) {
      H2Pool.noteCancel(up, performance.now())
      up.close(NGHTTP2_CANCEL)
    }
  }

  /** Response bytes the gateway holds for this call: the downstream write buffer and what
   *  the paused upstream stream read ahead. */
  bufferedBytes (): number {
    let n = this.down !== null ? this.down.writableLength : 0
    if (this.up !== null) n += this.up.readableLength
    return n
  }

  /** Finish bookkeeping: leave the deadline wheel and pool queue, release the host slot,
   *  metrics + log, tell the downstream session. */
  end (status: number): void {
    if (this.phase === Phase.End) return
    this.deps.deadlines.delete(this)
    this.stopWaiting()
    if ((this.up !== null || this.h1 !== null) && this.host !== null) { this.host.active--; this.up = null; this.h1 = null }
    // The upstream's own answer is an outcome of the host; a caller's cancel or deadline never.
    const host = this.host
    if (host !== null && this.held !== null && this.code === null && this.responseHeaders !== null && !this.outcomeCounted &&
      status !== GrpcStatus.CANCELLED && status !== GrpcStatus.DEADLINE_EXCEEDED) {
      this.outcomeCounted = true
      this.held.grpcOutcome(host, status, performance.now())
    }
    this.finish(status)
    const s = this.session
    if (s !== null) {
      if (this.backlogged) { this.backlogged = false; s.unbacklogged(this) }
      s.callEnded(this.endedAt)
    }
  }

  /** Downstream went away before the call ended (client cancel, connection loss). */
  cancelled (): void {
    if (this.phase === Phase.End) return
    this.abandonUpstream()
    this.end(GrpcStatus.CANCELLED)
  }

  /** The deadline wheel fired. */
  expire (): void {
    if (this.phase === Phase.End) return
    if (this.phase === Phase.Reply) {
      // Second expiry: the trailers ending this call could not be written in the grace (the
      // client reads nothing). Reset the stream; the call is over.
      if (this.down !== null) { this.localReset = true; if (!this.down.destroyed) this.down.close(NGHTTP2_CANCEL) } else this.res1?.destroy()
      this.end(this.status)
      return
    }
    // A try's own timeout (route retry.perTryTimeoutMs) before the caller's deadline.
    if (this.phase === Phase.Upstream && this.deadline < this.callDeadline && this.responseHeaders === null && retryAfterTryTimeout(this)) return
    const reply = this.phase >= Phase.Upstream ? upstreamTimeout(this) : DEADLINE_BEFORE_SEND
    if (this.host !== null && this.phase >= Phase.Upstream) this.host.recordSuccess() // a slow host is not a dead host
    this.fail(reply)
    if ((this.phase as number) === Phase.Reply) { // still waiting for its trailers to go out
      this.deadline = performance.now() + this.deps.graceMs
      this.deps.deadlines.add(this)
    }
  }
}
