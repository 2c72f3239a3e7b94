/**
 * Triple calls to clusters that speak HTTP/1.1 (Triple unary `application/proto|json`, plain
 * HTTP/JSON services). HTTP/1.1 downstream -> http2-proxy (it handles hop-by-hop headers,
 * Via/Forwarded and connection errors); HTTP/2 downstream -> undici's Pool (http2-proxy only
 * takes the compat request/response objects, which the HTTP/2 fast path never creates).
 * Used only for http1 clusters, so the closures here do not touch the gRPC hot path. Every
 * callback is a catch boundary, and every promise chain ends in handlers that cannot throw
 * (a throw in the fulfilment handler of `.then(ok, err)` is not caught by `err`).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { PassThrough, type Readable } from 'node:stream'
import proxy from 'http2-proxy'
import { ObjectHeaders } from '../call/headers.js'
import { Phase } from '../call/phase.js'
import { FailureClass } from '../cluster/outlier.js'
import { grpcStatusFromHttp } from '../protocol/triple/mapping.js'
import { assertSendable, http1Headers } from '../protocol/triple/headers.js'
import { internalError } from './triple-boundary.js'
import type { TripleCall } from './triple-call.js'
import { upstreamConnect, upstreamReset } from './triple-replies.js'

/** Upstream state of a Triple call on an HTTP/1.1 cluster. */
export interface Http1Upstream {
  status: number
  body: Readable | null
  abort: AbortController | null
  /** http2-proxy path: where to write the response. */
  proxyRes: IncomingMessage | null
}

const HTTP2_INTERNAL_ERROR = 2
/** Errors that mean no connection to the upstream was made. */
const CONNECT_ERRORS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE'])
/** Errors that are ours (a header node or undici refuses), not the upstream's. */
const OUR_ERRORS = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_HTTP_INVALID_HEADER_VALUE'])

export function forwardHttp1 (call: TripleCall): void {
  const h1: Http1Upstream = { status: 0, body: null, abort: null, proxyRes: null }
  // Counted first: a synchronous throw below reaches the boundary, whose abandonUpstream undoes it.
  call.host!.active++
  call.h1 = h1
  if (call.req1 !== null && call.res1 !== null) viaHttp2Proxy(call, h1, call.req1, call.res1)
  else viaUndici(call, h1)
}

// http2-proxy's typings give proxyRes the wrong type and want onReq to return a Promise.
interface ProxyOptions {
  hostname: string
  port: number
  proxyTimeout: number
  onReq (req: IncomingMessage, options: { headers?: OutgoingHttpHeaders, timeout?: number }): undefined
  onRes (req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage): void
}
type ProxyWeb = (req: IncomingMessage, res: ServerResponse, options: ProxyOptions, cb: (err: Error | null | undefined) => void) => void
const web = proxy.web as unknown as ProxyWeb

function viaHttp2Proxy (call: TripleCall, h1: Http1Upstream, req: IncomingMessage, res: ServerResponse): void {
  const host = call.host!
  const u = call.cluster!.options.upstream
  web(req, res, {
    hostname: host.address,
    port: host.port,
    proxyTimeout: Math.max(1, Math.ceil(call.remainingMs())),
    onReq: (_req, options) => {
      // Filters may have edited the request headers: send what the Call holds now.
      options.headers = http1Headers(call.raw)
      options.timeout = u.connectTimeoutMs
      return undefined
    },
    onRes: (_req, _res, proxyRes) => {
      try {
        h1.proxyRes = proxyRes
        h1.status = proxyRes.statusCode ?? 502
        call.responseHeaders = new ObjectHeaders({ ':status': String(h1.status), ...proxyRes.headers })
        call.respond()
      } catch (err) {
        internalError(call, err, 'http1 response')
      }
    },
  }, (err) => {
    try {
      if (call.phase === Phase.End) return
      if (err !== null && err !== undefined) {
        failed(call, h1, err as Error & { code?: string })
        return
      }
      call.end(grpcStatusFromHttp(h1.status))
    } catch (e) {
      internalError(call, e, 'http1 end')
    }
  })
}

function viaUndici (call: TripleCall, h1: Http1Upstream): void {
  const down = call.down!
  const pool = call.deps.pools.h1(call.cluster!, call.host!)
  const raw = call.raw
  const abort = new AbortController()
  h1.abort = abort
  pool.request({
    method: (raw[':method'] ?? 'POST') as 'POST',
    path: raw[':path'] ?? '/',
    headers: http1Headers(raw) as Record<string, string>,
    // undici destroys a body stream once it has read it; that would reset the downstream
    // HTTP/2 stream before the response is sent, so it reads a pipe of it instead.
    body: call.endOnHeaders ? null : down.pipe(new PassThrough()),
    signal: abort.signal,
    headersTimeout: Math.max(1, Math.ceil(call.remainingMs())),
  }).then((r) => {
    try {
      if (call.phase === Phase.End) { r.body.destroy(); return }
      h1.status = r.statusCode
      h1.body = r.body
      r.body.on('error', noop) // until continueHttp1Response takes it over
      const h: Record<string, string | string[] | undefined> = { ':status': String(r.statusCode) }
      for (const [k, v] of Object.entries(r.headers)) h[k] = v
      call.responseHeaders = new ObjectHeaders(h)
      call.respond()
    } catch (err) {
      internalError(call, err, 'http1 response')
    }
  }, (err: Error & { code?: string }) => {
    try {
      if (call.phase === Phase.End) return
      failed(call, h1, err)
    } catch (e) {
      internalError(call, e, 'http1 error')
    }
  })
}

/** The HTTP/1.1 exchange failed: a refused header is ours; else a connect failure or reset. */
function failed (call: TripleCall, h1: Http1Upstream, err: Error & { code?: string }): void {
  const code = err.code ?? ''
  if (OUR_ERRORS.has(code)) { internalError(call, err, 'http1 request'); return }
  const host = call.host!
  const connect = h1.status === 0 && CONNECT_ERRORS.has(code)
  call.cluster!.health.failure(host, connect ? FailureClass.Connect : FailureClass.Reset, performance.now())
  call.fail(connect ? upstreamConnect(host.id, err.message) : upstreamReset(0))
}

/** Response hooks are done: write the HTTP/1.1 upstream's response downstream. */
export function continueHttp1Response (call: TripleCall, h1: Http1Upstream): void {
  const rh = call.responseHeaders as ObjectHeaders
  const headers = rh.raw as IncomingHttpHeaders
  if (rh.changed) assertSendable(headers)
  if (h1.proxyRes !== null) {
    const res = call.res1!
    res.writeHead(h1.status, http1Headers(headers))
    call.responded = true
    h1.proxyRes.pipe(res)
    return
  }
  const down = call.down!
  const body = h1.body!
  if (down.destroyed || down.closed) { body.destroy(); return }
  const out: OutgoingHttpHeaders = http1Headers(headers)
  out[':status'] = h1.status
  down.respond(out)
  call.responded = true
  body.on('data', (chunk: Buffer) => { call.bytesOut += chunk.length; if (!down.write(chunk)) body.pause() })
  down.on('drain', () => body.resume())
  body.on('end', () => {
    try {
      // END_STREAM on the last DATA frame: a response without trailers must not end in RST.
      down.end()
      call.end(grpcStatusFromHttp(h1.status))
    } catch (err) {
      internalError(call, err, 'http1 body end')
    }
  })
  body.on('error', () => {
    if (call.phase === Phase.End) return
    call.localReset = true
    try { down.close(HTTP2_INTERNAL_ERROR) } catch {}
    call.end(grpcStatusFromHttp(502))
  })
}

export function abandonHttp1 (h1: Http1Upstream): void {
  h1.abort?.abort()
  h1.body?.destroy()
  h1.proxyRes?.destroy()
}

function noop (): void {}
