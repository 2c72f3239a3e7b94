import type { IncomingHttpHeaders } from 'node:http2'
import { performance } from 'node:perf_hooks'
import type { Call } from '../../call/call.js'
import { parseGrpcTimeout } from './grpc-timeout.js'

/**
 * Copy the few headers the gateway reads into Call fields, once (Envoy's inline headers);
 * node's header object itself is passed through to the upstream.
 * Returns false when the request is not a call the gateway can route (bad :path).
 */
export function decodeTripleCall (call: Call, headers: IncomingHttpHeaders): boolean {
  const path = headers[':path']
  if (typeof path !== 'string' || path.charCodeAt(0) !== 47 /* / */) return false
  const q = path.indexOf('?')
  const p = q === -1 ? path : path.slice(0, q)
  const slash = p.lastIndexOf('/')
  if (slash <= 0) { call.service = p.slice(1); call.method = '' } else {
    call.service = p.slice(1, slash)
    call.method = p.slice(slash + 1)
  }
  const v = headers['tri-service-version']
  if (typeof v === 'string') call.version = v
  const g = headers['tri-service-group']
  if (typeof g === 'string') call.group = g
  const t = headers['grpc-timeout']
  if (typeof t === 'string') {
    const ms = parseGrpcTimeout(t)
    if (ms === ms) call.deadline = performance.now() + ms // NaN-safe: malformed values ignored
  }
  const trace = headers['sofa-traceid'] ?? headers['tri-trace-traceid']
  if (typeof trace === 'string') call.traceId = trace
  else {
    const tp = headers.traceparent
    if (typeof tp === 'string' && tp.length >= 35) call.traceId = tp.slice(3, 35)
  }
  return true
}

/** gRPC mode (length-prefixed messages + trailers) vs Triple unary (bare body, HTTP status). */
export function isGrpcContentType (ct: string | undefined): boolean {
  return ct !== undefined && ct.startsWith('application/grpc')
}
