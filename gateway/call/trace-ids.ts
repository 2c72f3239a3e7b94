/**
 * The trace ids of a call as the gateway's tracing established them (the `trace` filter):
 * what the audit record and logs show, so they name the same spans the exporter sees.
 * Null on a Call that nobody traced.
 */
export interface TraceIds {
  /** W3C trace id (32 lower-case hex). */
  readonly traceId: string
  /** The gateway's server span (16 hex). */
  readonly spanId: string
  /** The caller's span ('' when the gateway started the trace). */
  readonly parentSpanId: string
  /** SOFA trace id (the caller's, or the W3C trace id when the caller sent none). */
  readonly sofaTraceId: string
  /** SOFA rpc id of the gateway's server side (the caller's, or '0' for a new trace). */
  readonly sofaRpcId: string
}
