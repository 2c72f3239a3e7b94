import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { LocalReply, encodeGrpcMessage, localReplyFor } from '../chain/local-reply.js'
import { ObjectHeaders } from '../call/headers.js'
import { Phase } from '../call/phase.js'
import type { Snapshot } from '../config/snapshot.js'
import { GrpcStatus } from '../errors.js'
import { formatGrpcTimeout } from '../protocol/triple/grpc-timeout.js'
import { decodeTripleCall, isGrpcContentType } from '../protocol/triple/decode.js'
import { grpcStatusFromHttp } from '../protocol/triple/mapping.js'
import type { DeadlineWheel } from '../util/deadline-wheel.js'
import { H2Pool } from '../upstream/h2-pool.js'
import type { H2PoolRegistry } from '../upstream/h2-pool-registry.js'
import { ProxiedCall } from './proxied-call.js'
import { abandonHttp1, continueHttp1Response, forwardHttp1, type Http1Upstream } from './triple-http1.js'

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants
const NGHTTP2_FLAG_END_STREAM = 1

/** What every Triple call on one listener shares. */
export interface TripleDeps {
  readonly pools: H2PoolRegistry
  readonly deadlines: DeadlineWheel<TripleCall>
  readonly logger: Logger
}

export const kCall = Symbol('isthmus.tripleCall')
type Tagged<T> = T & { [kCall]: TripleCall }

/**
 * One Triple/gRPC call: downstream HTTP/2 stream (or HTTP/1.1 request for Triple unary), the
 * upstream stream, and the state between them. Stream events go to module-level handlers
 * that find the call under `kCall`: no closures per call.
 */
export class TripleCall extends ProxiedCall {
  readonly deps: TripleDeps
  /** gRPC framing and trailers (application/grpc*), else Triple unary (HTTP status + body). */
  readonly grpc: boolean
  readonly down: ServerHttp2Stream | null
  readonly req1: IncomingMessage | null
  readonly res1: ServerResponse | null
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

  constructor (snapshot: Snapshot, deps: TripleDeps, raw: IncomingHttpHeaders, remoteAddress: string,
    down: ServerHttp2Stream | null, req1: IncomingMessage | null, res1: ServerResponse | null, endOnHeaders: boolean) {
    super('triple', 'triple', new ObjectHeaders(raw as Record<string, string | string[] | undefined>), remoteAddress, snapshot, deps.logger)
    this.deps = deps
    this.grpc = isGrpcContentType(raw['content-type'])
    this.down = down
    this.req1 = req1
    this.res1 = res1
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
  }

  /** Decode and run the request phases. Returns false for an undecodable request (already answered). */
  begin (): boolean {
    if (!decodeTripleCall(this, this.raw)) {
      this.fail(BAD_PATH)
      return false
    }
    this.start()
    if (this.phase !== Phase.End) this.deps.deadlines.add(this)
    return true
  }

  protected forward (): void {
    const cluster = this.cluster!
    if (cluster.protocol === 'http1') { forwardHttp1(this); return }
    if (cluster.protocol !== 'triple') { this.fail(protocolMismatch(cluster.name, cluster.protocol)); return }
    const host = this.host!
    const h = this.raw as OutgoingHttpHeaders
    if (this.deadline !== 0 && h['grpc-timeout'] !== undefined) {
      const left = this.deadline - performance.now()
      if (left <= 0) { this.fail(DEADLINE_BEFORE_SEND); return }
      h['grpc-timeout'] = formatGrpcTimeout(left)
    }
    if (this.req1 !== null) toH2Request(this.req1, h)
    const pool = this.deps.pools.h2(cluster, host)
    host.active++
    // onUpClose releases the pool slot (no pool listener per stream).
    const up = pool.request(h, this.endOnHeaders, true) as Tagged<ClientHttp2Stream>
    up[kCall] = this
    this.up = up
    up.on('response', onUpResponse)
    up.on('trailers', onUpTrailers)
    up.on('end', onUpEnd)
    up.on('close', onUpClose)
    up.on('error', noop)
    if (!this.endOnHeaders) {
      const src = (this.down ?? this.req1)!
      src.on('data', onDownData)
      src.on('end', onDownEnd)
    }
  }

  protected continueResponse (): void {
    if (this.h1 !== null) { continueHttp1Response(this, this.h1); return }
    const up = this.up
    if (up === null) return
    const headers = this.responseHeaders !== null ? (this.responseHeaders as ObjectHeaders).raw as IncomingHttpHeaders : {}
    if (this.down !== null) {
      const down = this.down
      if (down.destroyed || down.closed) return
      this.responded = true
      if (this.trailersOnly) {
        down.respond(headers as OutgoingHttpHeaders, END_STREAM)
        this.end(statusOf(this, headers))
        return
      }
      down.respond(headers as OutgoingHttpHeaders, WAIT_FOR_TRAILERS)
      down.on('wantTrailers', onWantTrailers)
    } else {
      const res = this.res1!
      this.responded = true
      res.writeHead(Number(headers[':status'] ?? 200), http1Headers(headers))
      if (this.trailersOnly) { res.end(); this.end(statusOf(this, headers)); return }
    }
    up.on('data', onUpData)
  }

  protected sendLocalReply (reply: LocalReply): void {
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
        down.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
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

  /** Detach from the upstream stream and cancel it if it still runs. */
  abandonUpstream (): void {
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
    if (!up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL)
  }

  /** Finish bookkeeping: leave the deadline wheel, release the host slot, metrics + log. */
  end (status: number): void {
    if (this.phase === Phase.End) return
    this.deps.deadlines.delete(this)
    if ((this.up !== null || this.h1 !== null) && this.host !== null) { this.host.active--; this.up = null; this.h1 = null }
    this.finish(status)
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
    const reply = this.phase >= Phase.Upstream ? upstreamTimeout(this) : DEADLINE_BEFORE_SEND
    if (this.host !== null && this.phase >= Phase.Upstream) this.host.recordSuccess() // a slow host is not a dead host
    this.fail(reply)
  }

  /** The upstream stream closed: normal end, reset, or connection failure. */
  upstreamClosed (up: ClientHttp2Stream, broken = false): void {
    if (this.up !== up || this.phase === Phase.End) return
    const code = up.rstCode ?? NGHTTP2_NO_ERROR
    if (this.upEnded) return
    if (broken) {
      if (this.host !== null) this.host.recordFailure(this.cluster!.options.outlier, performance.now())
      this.fail(upstreamReset(code))
      return
    }
    // RST_STREAM(NO_ERROR) after a complete response is a normal end (PROTOCOLS.md). Complete
    // means trailers for gRPC; for Triple unary, an explicit reset on a live session (a lost
    // connection also closes streams with code 0, and that is a failure).
    if (this.responded && code === NGHTTP2_NO_ERROR && (this.grpc ? this.upTrailers !== null : up.session !== undefined && !up.session.destroyed)) {
      onUpEnd.call(up as Tagged<ClientHttp2Stream>)
      return
    }
    const host = this.host
    if (host !== null) host.recordFailure(this.cluster!.options.outlier, performance.now())
    this.fail(this.responded || code !== NGHTTP2_NO_ERROR ? upstreamReset(code) : upstreamConnect(host?.id ?? '?'))
  }
}

function noop (): void {}

// Shared respond() options (node copies them; no object per call).
const END_STREAM = Object.freeze({ endStream: true })
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true })
const DRAIN_UP = 1
const DRAIN_DOWN = 2

function onUpResponse (this: Tagged<ClientHttp2Stream>, headers: IncomingHttpHeaders, flags: number): void {
  const call = this[kCall]
  if (call.up !== this) return
  call.trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0
  call.responseHeaders = new ObjectHeaders(headers as Record<string, string | string[] | undefined>)
  call.respond()
}

function onUpTrailers (this: Tagged<ClientHttp2Stream>, trailers: IncomingHttpHeaders): void {
  const call = this[kCall]
  if (call.up === this) call.upTrailers = trailers
}

function onUpData (this: Tagged<ClientHttp2Stream>, chunk: Buffer): void {
  const call = this[kCall]
  if (call.up !== this) return
  call.bytesOut += chunk.length
  const dst = call.down ?? call.res1!
  if (dst.write(chunk)) return
  this.pause()
  if ((call.drainWatch & DRAIN_DOWN) === 0) {
    call.drainWatch |= DRAIN_DOWN
    dst.on('drain', onDownDrain)
  }
}

function onDownDrain (this: Tagged<ServerHttp2Stream> | Tagged<ServerResponse>): void {
  const call = this[kCall]
  if (call.up !== null) call.up.resume()
}

function onUpDrain (this: Tagged<ClientHttp2Stream>): void {
  const call = this[kCall]
  if (call.up !== this) return
  if (call.down !== null) call.down.resume(); else call.req1?.resume()
}

function onDownData (this: Tagged<ServerHttp2Stream> | Tagged<IncomingMessage>, chunk: Buffer): void {
  const call = this[kCall]
  const up = call.up
  if (up === null) return
  call.bytesIn += chunk.length
  if (up.write(chunk)) return
  this.pause()
  if ((call.drainWatch & DRAIN_UP) === 0) {
    call.drainWatch |= DRAIN_UP
    up.on('drain', onUpDrain)
  }
}

function onDownEnd (this: Tagged<ServerHttp2Stream> | Tagged<IncomingMessage>): void {
  const up = this[kCall].up
  if (up !== null && !up.writableEnded) up.end()
}

function onUpEnd (this: Tagged<ClientHttp2Stream>): void {
  const call = this[kCall]
  if (call.up !== this || call.upEnded) return
  // Node also ends the readable side when the connection dies. A gRPC response is complete
  // only with trailers (or Trailers-Only); anything else ending on a dead session is a reset.
  if (call.responded && !call.trailersOnly && (call.grpc ? call.upTrailers === null : this.session === undefined || this.session.destroyed)) {
    call.upstreamClosed(this, true)
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

function onUpClose (this: Tagged<ClientHttp2Stream>): void {
  H2Pool.release(this)
  this[kCall].upstreamClosed(this)
}

function onWantTrailers (this: Tagged<ServerHttp2Stream>): void {
  const call = this[kCall]
  const t = call.localTrailers ?? call.upTrailers
  // Empty trailers make node send an empty DATA frame with END_STREAM: the right end for a
  // response without trailers (Triple unary), never RST_STREAM(NO_ERROR).
  this.sendTrailers((t ?? {}) as OutgoingHttpHeaders)
  call.end(call.localTrailers !== null ? call.status : statusOf(call, t ?? (call.responseHeaders as ObjectHeaders).raw as IncomingHttpHeaders))
}

/** gRPC status from trailers (or Trailers-Only headers); HTTP status mapped for Triple unary. */
function statusOf (call: TripleCall, h: IncomingHttpHeaders | OutgoingHttpHeaders): number {
  const g = h['grpc-status']
  if (g !== undefined) return Number(g)
  if (call.grpc) return GrpcStatus.UNKNOWN
  const s = call.responseHeaders?.get(':status')
  return grpcStatusFromHttp(s === undefined ? 200 : Number(s))
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings'])

/** HTTP/1.1 request headers -> HTTP/2 request headers, in place. */
function toH2Request (req: IncomingMessage, h: OutgoingHttpHeaders): void {
  h[':method'] = req.method ?? 'POST'
  h[':path'] = req.url ?? '/'
  h[':scheme'] = 'http'
  h[':authority'] = req.headers.host ?? 'localhost'
  for (const k of HOP) delete h[k]
}

/** HTTP/2 response headers -> HTTP/1.1 (drop pseudo and connection headers). */
export function http1Headers (h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const k of Object.keys(h)) if (k.charCodeAt(0) !== 58 && !HOP.has(k)) out[k] = h[k]
  return out
}

function unaryErrorBody (reply: LocalReply): string {
  return JSON.stringify({ status: reply.grpcStatus, message: reply.message })
}

const BAD_PATH = new LocalReply('ISTH_ERR_TRIPLE_BAD_REQUEST', ':path must be /<service>/<method>')
const DEADLINE_BEFORE_SEND = new LocalReply('ISTH_ERR_DEADLINE_EXCEEDED', 'the caller\'s deadline passed in the gateway')

function upstreamTimeout (call: TripleCall): LocalReply {
  return localReplyFor('ISTH_ERR_UPSTREAM_TIMEOUT', `route ${call.route?.name ?? '?'}`)
}
export function upstreamReset (code: number): LocalReply {
  return localReplyFor('ISTH_ERR_UPSTREAM_RESET', `HTTP/2 error code ${code}`)
}
export function upstreamConnect (host: string): LocalReply {
  return localReplyFor('ISTH_ERR_UPSTREAM_CONNECT', host)
}
function protocolMismatch (cluster: string, protocol: string): LocalReply {
  return localReplyFor('ISTH_ERR_ROUTE_PROTOCOL_MISMATCH', `cluster ${cluster}, which speaks ${protocol}; a Triple call cannot be sent there`)
}

export function tagStream<T extends object> (s: T, call: TripleCall): void {
  (s as Tagged<T>)[kCall] = call
}
