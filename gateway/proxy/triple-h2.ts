/**
 * Triple calls to clusters that speak HTTP/2 (gRPC, Triple): the hot path. The upstream
 * stream's events go to the module-level handlers below, which find the call under `kCall`;
 * each handler that runs call logic or hands headers to node is a catch boundary.
 */
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { ObjectHeaders } from '../call/headers.js'
import { Phase } from '../call/phase.js'
import { formatGrpcTimeout } from '../protocol/triple/grpc-timeout.js'
import { assertSendable, http1Headers, toH2Request } from '../protocol/triple/headers.js'
import { H2Pool } from '../upstream/h2-pool.js'
import { GrpcStatus } from '../errors.js'
import { FailureClass } from '../cluster/outlier.js'
import type { RetryOn } from '../config/options.js'
import { internalError, logInternal } from './triple-boundary.js'
import type { TripleCall } from './triple-call.js'
import { DEADLINE_BEFORE_SEND, INTERNAL, statusOf, upstreamConnect, upstreamReset } from './triple-replies.js'
import { kCall, type Tagged } from './triple-tag.js'
import { tapRequestData, tapRequestEnd, tapResponseData } from './taps.js'

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants
const NGHTTP2_FLAG_END_STREAM = 1

// Shared respond() options (node copies them; no object per call).
const END_STREAM = Object.freeze({ endStream: true })
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true })
const DRAIN_UP = 1
const DRAIN_DOWN = 2

/** Open the upstream stream (or wait for a slot: the call is a PoolWaiter). May throw what
 *  node throws for headers it refuses; the caller is the boundary. */
export function forwardH2 (call: TripleCall): void {
  const cluster = call.cluster!
  const host = call.host!
  const h = call.raw as OutgoingHttpHeaders
  const now = performance.now()
  const tryEnd = call.tryDeadline(now)
  if (tryEnd !== 0 && h['grpc-timeout'] !== undefined) {
    const left = tryEnd - now
    if (left <= 0) { call.fail(DEADLINE_BEFORE_SEND); return }
    h['grpc-timeout'] = formatGrpcTimeout(left)
  }
  // HTTP/1.1 request: once (a call that waited for a slot comes here again).
  if (call.req1 !== null && h[':authority'] === undefined) toH2Request(call.req1.method, call.req1.url, h)
  if ((call.headers as ObjectHeaders).changed) assertSendable(h)
  const pool = call.deps.pools.h2(cluster, host)
  // onUpClose releases the pool slot (no pool listener per stream).
  const up = pool.request(h, call.endOnHeaders, true) as Tagged<ClientHttp2Stream> | null
  if (up === null) {
    if (call.held!.admitPending() && pool.wait(call)) { call.waitPool = pool; call.held!.pending++ } else call.overloaded(pool)
    return
  }
  host.active++
  const first = call.attempts === 0
  call.attempts++
  if (!first || tryEnd !== call.deadline) { call.deadline = tryEnd; call.deps.deadlines.add(call) }
  up[kCall] = call
  call.up = up
  up.on('error', onUpError)
  up.on('response', onUpResponse)
  up.on('trailers', onUpTrailers)
  up.on('end', onUpEnd)
  up.on('close', onUpClose)
  if (call.endOnHeaders) {
    if (first && call.taps !== null) tapRequestEnd(call)
    return
  }
  if (first) {
    // A route that retries keeps the request bytes (up to maxBodyBytes) to send them again.
    if (call.route?.retry != null) call.replay = []
    const src = (call.down ?? call.req1)!
    src.on('data', onDownData)
    src.on('end', onDownEnd)
    return
  }
  // A retry: what the caller sent so far goes to the new stream; the rest follows.
  const chunks = call.replay!
  for (let i = 0; i < chunks.length; i++) up.write(chunks[i])
  if (call.downEnded) up.end()
  else if (call.down !== null) call.down.resume(); else call.req1!.resume()
}

/**
 * Retry a try that failed before any response byte (README "Retries"): on another host,
 * within the route's attempts, the caller's deadline and the cluster's retry budget, with
 * the request bytes kept. True when the retry went out (or failed the call itself).
 */
function retryH2 (call: TripleCall, up: ClientHttp2Stream, on: RetryOn): boolean {
  if (call.responseHeaders !== null || call.responded || call.replayLost || call.phase !== Phase.Upstream) return false
  const now = performance.now()
  if (call.mayRetry(on, now) === null) return false
  const prev = call.host!
  const next = call.retryHost(prev, now)
  if (next === null) return false
  call.up = null
  prev.active--
  if (!up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL)
  call.host = next
  call.upError = null
  call.upEnded = false
  call.trailersOnly = false
  call.upTrailers = null
  call.heldUp = false
  call.drainWatch &= ~DRAIN_UP
  forwardH2(call)
  return true
}

/** The per-try timeout fired before any response: retry when the route says so. */
export function retryAfterTryTimeout (call: TripleCall): boolean {
  const up = call.up
  return up !== null && retryH2(call, up, 'per-try-timeout')
}

/** Response hooks are done: write the upstream's response headers downstream. */
export function continueH2Response (call: TripleCall): void {
  const up = call.up
  if (up === null) return
  const rh = call.responseHeaders as ObjectHeaders | null
  const headers = rh !== null ? rh.raw as IncomingHttpHeaders : {}
  if (rh !== null && rh.changed) assertSendable(headers)
  if (call.down !== null) {
    const down = call.down
    if (down.destroyed || down.closed) return
    if (call.trailersOnly) {
      down.respond(headers as OutgoingHttpHeaders, END_STREAM)
      call.responded = true
      call.end(statusOf(call, headers))
      return
    }
    down.respond(headers as OutgoingHttpHeaders, WAIT_FOR_TRAILERS)
    call.responded = true
    down.on('wantTrailers', onWantTrailers)
  } else {
    const res = call.res1!
    res.writeHead(Number(headers[':status'] ?? 200), http1Headers(headers))
    call.responded = true
    if (call.trailersOnly) { res.end(); call.end(statusOf(call, headers)); return }
  }
  up.on('data', onUpData)
}

/** The upstream stream closed: normal end, reset, or connection failure. */
function upstreamClosed (call: TripleCall, up: ClientHttp2Stream, broken: boolean): void {
  if (call.up !== up || call.phase === Phase.End || call.upEnded) return
  const code = up.rstCode ?? NGHTTP2_NO_ERROR
  const host = call.host
  const connect = H2Pool.connectFailure(up, call.upError)
  if (connect !== null) {
    hostFailed(call, up, code, FailureClass.Connect)
    if (retryH2(call, up, 'connect-failure')) return
    call.fail(upstreamConnect(host?.id ?? '?', connect))
    return
  }
  if (broken) {
    hostFailed(call, up, code, FailureClass.Reset)
    call.fail(upstreamReset(code))
    return
  }
  // RST_STREAM(NO_ERROR) after a complete response is a normal end (PROTOCOLS.md). Complete
  // means trailers for gRPC; for Triple unary, an explicit reset on a live session (a lost
  // connection also closes streams with code 0, and that is a failure).
  if (call.responded && code === NGHTTP2_NO_ERROR && (call.grpc ? call.upTrailers !== null : up.session !== undefined && !up.session.destroyed)) {
    upstreamEnded(call, up)
    return
  }
  // REFUSED_STREAM: the upstream did not process it (RFC 9113 8.7): safe to send elsewhere.
  if (code === NGHTTP2_REFUSED_STREAM && retryH2(call, up, 'refused')) return
  // No response yet, and no error code (or node cancelling the streams of a session it
  // destroyed): the connection was lost, not this call reset.
  const lost = !call.responded && (code === NGHTTP2_NO_ERROR || up.session === undefined || up.session.destroyed)
  hostFailed(call, up, code, FailureClass.Reset, lost)
  call.fail(lost ? upstreamConnect(host?.id ?? '?', 'connection lost before the response') : upstreamReset(code))
}

/**
 * Count an upstream failure against the host, unless the host is not the one to blame: we
 * held its reads (a slow client), it refused the stream unprocessed (REFUSED_STREAM: retry
 * elsewhere), or it is answering cancels of ours on that session (an upstream's own
 * rapid-reset guard must not make us eject a healthy host). A lost session is one failure
 * however many calls it carried.
 */
function hostFailed (call: TripleCall, up: ClientHttp2Stream, code: number, kind: FailureClass, sessionLost = false): void {
  const host = call.host
  if (host === null || call.heldUp || code === NGHTTP2_REFUSED_STREAM) return
  const now = performance.now()
  if (H2Pool.cancelledRecently(up, now) || !(sessionLost ? H2Pool.lossOnce(up) : H2Pool.firstLoss(up))) return
  call.cluster!.health.failure(host, kind, now)
}

function upstreamEnded (call: TripleCall, up: ClientHttp2Stream): void {
  if (call.up !== up || call.upEnded) return
  // No response HEADERS at all: an upstream cannot end a stream that way (RFC 9113 8.1), but a
  // lost connection does (Node ends the readable side of every stream before it closes them,
  // rstCode 0). Marking the call ended here left it waiting for the route timeout; the stream's
  // 'close' follows and decides, once the session shows as lost (one host failure, not one per call).
  if (call.responseHeaders === null) return
  // Node also ends the readable side when the connection dies. A gRPC response is complete
  // only with trailers (or Trailers-Only); anything else ending on a dead session is a reset.
  if (call.responded && !call.trailersOnly && (call.grpc ? call.upTrailers === null : up.session === undefined || up.session.destroyed)) {
    upstreamClosed(call, up, true)
    return
  }
  call.upEnded = true
  if (!call.responded || call.trailersOnly) return
  if (call.down !== null) {
    if (!call.down.writableEnded) call.down.end() // -> wantTrailers
  } else {
    const res = call.res1!
    res.end()
    call.end(statusOf(call, call.upTrailers ?? (call.responseHeaders as ObjectHeaders).raw as IncomingHttpHeaders))
  }
}

function onUpError (this: Tagged<ClientHttp2Stream>, err: Error): void {
  const call = this[kCall]
  if (call.up === this && call.upError === null) call.upError = err
}

function onUpResponse (this: Tagged<ClientHttp2Stream>, headers: IncomingHttpHeaders, flags: number): void {
  const call = this[kCall]
  if (call.up !== this) return
  try {
    call.trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0
    // Trailers-Only UNAVAILABLE: nothing reached the caller yet; another host may serve it.
    if (call.trailersOnly && headers['grpc-status'] === '14' && call.route?.retry != null) {
      const host = call.host
      if (host !== null) call.cluster!.health.grpcOutcome(host, GrpcStatus.UNAVAILABLE, performance.now())
      if (retryH2(call, this, 'unavailable')) return
      call.outcomeCounted = true
    }
    call.responseHeaders = new ObjectHeaders(headers as Record<string, string | string[] | undefined>)
    call.respond()
  } catch (err) {
    internalError(call, err, 'response')
  }
}

function onUpTrailers (this: Tagged<ClientHttp2Stream>, trailers: IncomingHttpHeaders): void {
  const call = this[kCall]
  if (call.up === this) call.upTrailers = trailers
}

function onUpData (this: Tagged<ClientHttp2Stream>, chunk: Buffer): void {
  const call = this[kCall]
  if (call.up !== this) return
  call.bytesOut += chunk.length
  if (call.taps !== null) tapResponseData(call, chunk)
  const dst = call.down ?? call.res1!
  if (dst.write(chunk)) return
  // Hold this stream only (the upstream session's connection window is large enough that
  // one held stream never stalls the others: upstream/h2-pool.ts).
  this.pause()
  call.heldUp = true
  if ((call.drainWatch & DRAIN_DOWN) === 0) {
    call.drainWatch |= DRAIN_DOWN
    dst.on('drain', onDownDrain)
  }
  const s = call.session
  if (s !== null && !call.backlogged) { call.backlogged = true; s.backlogged(call) }
}

function onDownDrain (this: Tagged<ServerHttp2Stream> | Tagged<ServerResponse>): void {
  const call = this[kCall]
  if (call.up !== null) { call.heldUp = false; call.up.resume() }
}

function onUpDrain (this: Tagged<ClientHttp2Stream>): void {
  const call = this[kCall]
  if (call.up !== this) return
  if (call.down !== null) call.down.resume(); else call.req1?.resume()
}

function onDownData (this: Tagged<ServerHttp2Stream> | Tagged<IncomingMessage>, chunk: Buffer): void {
  const call = this[kCall]
  const up = call.up
  const keep = call.replay
  if (up === null) {
    // A retry waiting for a stream slot: keep the bytes for it.
    if (keep !== null) { call.bytesIn += chunk.length; keepForRetry(call, keep, chunk) }
    return
  }
  call.bytesIn += chunk.length
  if (call.taps !== null) tapRequestData(call, chunk)
  if (keep !== null) keepForRetry(call, keep, chunk)
  if (up.write(chunk)) return
  this.pause()
  if ((call.drainWatch & DRAIN_UP) === 0) {
    call.drainWatch |= DRAIN_UP
    up.on('drain', onUpDrain)
  }
}

function keepForRetry (call: TripleCall, keep: Buffer[], chunk: Buffer): void {
  call.replayBytes += chunk.length
  if (call.replayBytes <= call.route!.retry!.maxBodyBytes) keep.push(chunk)
  else { call.replay = null; call.replayLost = true }
}

function onDownEnd (this: Tagged<ServerHttp2Stream> | Tagged<IncomingMessage>): void {
  const call = this[kCall]
  call.downEnded = true
  const up = call.up
  // Node ends the readable side of a stream the client reset too, before it marks the reset:
  // taps hear of the end one turn later, once a reset would show.
  if (call.taps !== null) setImmediate(tapEndIfComplete, call, this)
  if (up !== null && !up.writableEnded) up.end()
}

function tapEndIfComplete (call: TripleCall, src: ServerHttp2Stream | IncomingMessage): void {
  if (call.taps === null) return
  if ('rstCode' in src ? src.aborted || src.rstCode !== NGHTTP2_NO_ERROR : !src.complete) return
  tapRequestEnd(call)
}

function onUpEnd (this: Tagged<ClientHttp2Stream>): void {
  const call = this[kCall]
  try { upstreamEnded(call, this) } catch (err) { internalError(call, err, 'upstream end') }
}

function onUpClose (this: Tagged<ClientHttp2Stream>): void {
  H2Pool.release(this)
  const call = this[kCall]
  try { upstreamClosed(call, this, false) } catch (err) { internalError(call, err, 'upstream close') }
}

function onWantTrailers (this: Tagged<ServerHttp2Stream>): void {
  const call = this[kCall]
  try {
    const t = call.localTrailers ?? call.upTrailers
    // Empty trailers make node send an empty DATA frame with END_STREAM: the right end for a
    // response without trailers (Triple unary), never RST_STREAM(NO_ERROR).
    this.sendTrailers((t ?? {}) as OutgoingHttpHeaders)
    call.end(call.localTrailers !== null ? call.status : statusOf(call, t ?? (call.responseHeaders as ObjectHeaders).raw as IncomingHttpHeaders))
  } catch (err) {
    // No trailers can follow any more: reset the stream so the client sees the call fail.
    logInternal(call.logger, err, 'trailers', call.service)
    call.localReset = true
    try { if (!this.destroyed) this.close(NGHTTP2_INTERNAL_ERROR) } catch {}
    call.code = INTERNAL.code
    call.end(GrpcStatus.INTERNAL)
  }
}
