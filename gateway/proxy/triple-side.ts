/**
 * A side request of a Triple call (call/side.ts) on an HTTP/2 cluster: its own stream from
 * the target host's pool (never a wait for a slot), the call's request headers plus the
 * spec's header, the body as the filter copies it with a bounded write buffer, a deadline
 * timer, and the response read and discarded (its bytes go to the listener for a digest).
 * Nothing here touches the call: no pause, no host accounting, no health record.
 */
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import { performance } from 'node:perf_hooks'
import type { ObjectHeaders } from '../call/headers.js'
import type { SideOutcome, SideRefusal, SideRequest, SideSpec } from '../call/side.js'
import { formatGrpcTimeout } from '../protocol/triple/grpc-timeout.js'
import { assertSendable, toH2Request } from '../protocol/triple/headers.js'
import { H2Pool } from '../upstream/h2-pool.js'
import type { TripleCall } from './triple-call.js'

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants
const NGHTTP2_FLAG_END_STREAM = 1
const kSide = Symbol('isthmus.side')
type SideStream = ClientHttp2Stream & { [kSide]: TripleSide }

export function openTripleSide (call: TripleCall, spec: SideSpec): SideRequest | SideRefusal {
  const cluster = call.snapshot.clusters.get(spec.cluster)
  if (cluster === undefined) return 'no-cluster'
  if (cluster.protocol !== 'triple') return 'protocol'
  const host = cluster.lb.pick(cluster.hosts, call, performance.now())
  if (host === null) return 'no-host'
  const h: OutgoingHttpHeaders = { ...call.raw }
  if (call.req1 !== null && h[':authority'] === undefined) toH2Request(call.req1.method, call.req1.url, h)
  h[spec.header] = spec.headerValue
  if (h['grpc-timeout'] !== undefined || call.grpc) h['grpc-timeout'] = formatGrpcTimeout(spec.timeoutMs)
  let stream: ClientHttp2Stream | null
  try {
    if ((call.headers as ObjectHeaders).changed) assertSendable(h)
    stream = call.deps.pools.h2(cluster, host).request(h, call.endOnHeaders, false)
  } catch {
    return 'protocol' // headers node refuses: the call itself will fail on them
  }
  if (stream === null) return 'busy'
  return new TripleSide(stream as SideStream, spec, call.endOnHeaders)
}

class TripleSide implements SideRequest {
  readonly stream: SideStream
  readonly spec: SideSpec
  readonly timer: NodeJS.Timeout
  reqEnded: boolean
  /** Set by abort/timeout before the stream closes. */
  outcome: SideOutcome | null = null
  done = false
  error: Error | null = null
  status = -1
  grpcStatus = -1
  bytes = 0

  constructor (stream: SideStream, spec: SideSpec, reqEnded: boolean) {
    this.stream = stream
    this.spec = spec
    this.reqEnded = reqEnded
    stream[kSide] = this
    stream.on('error', onSideError)
    stream.on('response', onSideResponse)
    stream.on('trailers', onSideTrailers)
    stream.on('data', onSideData)
    stream.on('close', onSideClose)
    this.timer = setTimeout(onSideTimeout, spec.timeoutMs, this)
    this.timer.unref()
  }

  write (chunk: Buffer): boolean {
    if (this.reqEnded || this.outcome !== null) return false
    const s = this.stream
    if (s.destroyed || s.closed || s.writableEnded) return false
    if (s.writableLength + chunk.length > this.spec.maxBufferedBytes) { this.cancel('aborted'); return false }
    s.write(chunk)
    return true
  }

  end (): void {
    if (this.reqEnded) return
    this.reqEnded = true
    const s = this.stream
    if (this.outcome === null && !s.destroyed && !s.writableEnded) s.end()
  }

  abort (): void { this.cancel('aborted') }

  cancel (outcome: SideOutcome): void {
    if (this.done || this.outcome !== null) return
    this.outcome = outcome
    this.reqEnded = true
    const s = this.stream
    if (!s.closed && !s.destroyed) {
      H2Pool.noteCancel(s, performance.now())
      s.close(NGHTTP2_CANCEL)
    }
  }

  finish (): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.timer)
    const s = this.stream
    let outcome = this.outcome
    if (outcome === null) {
      const code = s.rstCode ?? NGHTTP2_NO_ERROR
      if (H2Pool.connectFailure(s, this.error) !== null) outcome = 'connect'
      else if (this.status !== -1 && code === NGHTTP2_NO_ERROR && this.error === null) outcome = 'ok'
      else outcome = 'reset'
    }
    try {
      this.spec.listener.onSideEnd(this, { outcome, status: this.status, grpcStatus: this.grpcStatus, bytes: this.bytes })
    } catch {}
  }
}

function grpcStatusOf (h: IncomingHttpHeaders): number {
  const v = h['grpc-status']
  if (typeof v !== 'string') return -1
  const n = Number(v)
  return Number.isInteger(n) ? n : -1
}

function onSideError (this: SideStream, err: Error): void {
  const side = this[kSide]
  if (side.error === null) side.error = err
}

function onSideResponse (this: SideStream, headers: IncomingHttpHeaders, flags: number): void {
  const side = this[kSide]
  side.status = Number(headers[':status'] ?? -1)
  if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) side.grpcStatus = grpcStatusOf(headers)
}

function onSideTrailers (this: SideStream, trailers: IncomingHttpHeaders): void {
  this[kSide].grpcStatus = grpcStatusOf(trailers)
}

function onSideData (this: SideStream, chunk: Buffer): void {
  const side = this[kSide]
  side.bytes += chunk.length
  const l = side.spec.listener
  if (l.onSideData !== undefined) { try { l.onSideData(side, chunk) } catch {} }
}

function onSideClose (this: SideStream): void {
  this[kSide].finish()
}

function onSideTimeout (side: TripleSide): void {
  side.cancel('timeout')
}
