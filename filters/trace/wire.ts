/**
 * Where trace context travels on each protocol, read from a request and written to the
 * upstream request. Header names, from sofastack/sofa-rpc:
 * - Triple: remoting/remoting-triple/.../server/triple/TripleHeadKeys.java defines
 *   `tri-trace-traceid`, `tri-trace-rpcid`, `tri-trace-samp` and the older `SOFA-TraceId`,
 *   `SOFA-RpcId` (lower-case on HTTP/2); TripleTracerAdapter.java writes all four ids on a
 *   client call and, on the server, reads the old names first, then the `tri-trace-*` ones.
 * - Bolt: core/api/.../common/RemotingConstants.java `NEW_RPC_TRACE_NAME =
 *   "new_rpc_trace_context"`, which RpcSofaTracer.java (clientBeforeSend / serverReceived)
 *   writes for providers >= 5.1.0 as SofaTracerSpanContext.serializeSpanContext():
 *   `tcid=<traceId>&spid=<rpcId>&pspid=<parentRpcId>&sample=<bool>&` then baggage; older
 *   providers get the `rpc_trace_context` map, flattened in the header map as
 *   `rpc_trace_context.sofaTraceId` / `rpc_trace_context.sofaRpcId`. The server reads the new
 *   form first.
 * W3C `traceparent` is read and written on Triple, and on Bolt as a header-map key (so two
 * Isthmus gateways keep exact parent links over Bolt; SOFA peers ignore the extra key).
 */
import { TraceFlags, type SpanContext } from '@opentelemetry/api'
import type { Call, CallHeaders } from '../../gateway/index.js'
import { baggageValue, withBaggagePairs } from '../stress/baggage.js'
import { formatTraceparent, isRpcId, isSofaTraceId, parseTraceparent, spanIdOfRpcId, w3cTraceIdOf } from './ids.js'

export const TRACEPARENT = 'traceparent'
const TRI_TRACE_ID = 'tri-trace-traceid'
const TRI_RPC_ID = 'tri-trace-rpcid'
const TRI_SAMPLED = 'tri-trace-samp'
const OLD_TRACE_ID = 'sofa-traceid'
const OLD_RPC_ID = 'sofa-rpcid'
export const BOLT_TRACE_ID = 'rpc_trace_context.sofaTraceId'
export const BOLT_RPC_ID = 'rpc_trace_context.sofaRpcId'
export const BOLT_NEW_CONTEXT = 'new_rpc_trace_context'

/** What the filter writes on Bolt, and the bounds on `new_rpc_trace_context` (it carries baggage too). */
export interface WireOptions { readonly maxContextBytes: number, readonly maxContextPairs: number, readonly boltTraceparent: boolean }

/** What a request carried. */
export interface Incoming {
  /** The remote parent: from `traceparent`, else bridged from the SOFA ids; null for a new trace. */
  readonly parent: SpanContext | null
  /** The caller's span id when it came from `traceparent` ('' when bridged or absent). */
  readonly parentSpanId: string
  /** '' when the request carried none (or a malformed one). */
  readonly sofaTraceId: string
  readonly sofaRpcId: string
  /** Bolt `new_rpc_trace_context` as received, when well-formed (rewritten for the upstream). */
  readonly newContext: string | undefined
}

export function readIncoming (call: Call, wire: WireOptions): Incoming {
  const h = call.headers
  const w3c = parseTraceparent(h.get(TRACEPARENT))
  let sofaTrace: string | undefined
  let sofaRpc: string | undefined
  let sampled: string | undefined
  let newContext: string | undefined
  if (call.protocol === 'triple') {
    sofaTrace = h.get(OLD_TRACE_ID) ?? h.get(TRI_TRACE_ID)
    sofaRpc = h.get(OLD_RPC_ID) ?? h.get(TRI_RPC_ID)
    sampled = h.get(TRI_SAMPLED)
  } else {
    const nc = h.get(BOLT_NEW_CONTEXT)
    if (nc !== undefined && nc !== '') {
      const tcid = baggageValue(nc, 'tcid', wire.maxContextBytes, wire.maxContextPairs)
      if (tcid !== undefined) {
        newContext = nc
        sofaTrace = tcid
        sofaRpc = baggageValue(nc, 'spid', wire.maxContextBytes, wire.maxContextPairs)
        sampled = baggageValue(nc, 'sample', wire.maxContextBytes, wire.maxContextPairs)
      }
    }
    if (sofaTrace === undefined) {
      sofaTrace = h.get(BOLT_TRACE_ID)
      sofaRpc = h.get(BOLT_RPC_ID)
    }
  }
  const traceId = sofaTrace !== undefined && isSofaTraceId(sofaTrace) ? sofaTrace : ''
  const rpcId = traceId !== '' && sofaRpc !== undefined && isRpcId(sofaRpc) ? sofaRpc : ''
  if (w3c !== null) return { parent: w3c, parentSpanId: w3c.spanId, sofaTraceId: traceId, sofaRpcId: rpcId, newContext }
  if (traceId === '') return { parent: null, parentSpanId: '', sofaTraceId: '', sofaRpcId: '', newContext: undefined }
  const parent: SpanContext = {
    traceId: w3cTraceIdOf(traceId),
    spanId: spanIdOfRpcId(traceId, rpcId === '' ? '0' : rpcId),
    // SOFATracer's own sampling mark, when sent; sampled otherwise (the OTel sampler decides).
    traceFlags: sampled === 'false' ? TraceFlags.NONE : TraceFlags.SAMPLED,
    isRemote: true,
  }
  return { parent, parentSpanId: '', sofaTraceId: traceId, sofaRpcId: rpcId, newContext }
}

/**
 * Write the upstream attempt's context: `traceparent` naming the client span, and the SOFA
 * ids of the child call (`rpcId` of the gateway's server side + `.1`).
 */
export function writeOutgoing (call: Call, client: SpanContext, sofaTraceId: string, serverRpcId: string, newContext: string | undefined, wire: WireOptions): void {
  const h: CallHeaders = call.headers
  const childRpcId = serverRpcId + '.1'
  if (call.protocol === 'triple') {
    h.set(TRACEPARENT, formatTraceparent(client))
    h.set(TRI_TRACE_ID, sofaTraceId)
    h.set(TRI_RPC_ID, childRpcId)
    h.set(OLD_TRACE_ID, sofaTraceId)
    h.set(OLD_RPC_ID, childRpcId)
    return
  }
  if (wire.boltTraceparent) h.set(TRACEPARENT, formatTraceparent(client))
  h.set(BOLT_TRACE_ID, sofaTraceId)
  h.set(BOLT_RPC_ID, childRpcId)
  if (newContext !== undefined) {
    h.set(BOLT_NEW_CONTEXT, withBaggagePairs(newContext, [['tcid', sofaTraceId], ['spid', childRpcId], ['pspid', serverRpcId]]))
  }
}
