/**
 * The `trace` filter's spans: a SERVER span per call and a CLIENT span per upstream attempt
 * (onUpstream), through @opentelemetry/api only. The process's SDK, when one is registered
 * (README "Tracing"), records and exports them; without one every hook returns at its first
 * test: no span, no context, no header write, no allocation.
 */
import { performance } from 'node:perf_hooks'
import { ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, isSpanContextValid, trace, type Attributes, type Context, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api'
import { CONTINUE, type Call, type Filter, type TraceIds, type Verdict } from '../../gateway/index.js'
import { readIncoming, writeOutgoing, type WireOptions } from './wire.js'

/** The global provider before any SDK registers: its delegate is the API's no-op provider. */
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate()
const SCOPE = 'isthmus'

/** Per-call tracing state, kept on `call.trace` (what the audit reads is its TraceIds part). */
class CallSpans implements TraceIds {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly sofaTraceId: string
  readonly sofaRpcId: string
  readonly server: Span
  readonly context: Context
  readonly newContext: string | undefined
  client: Span | null

  constructor (server: Span, context: Context, parentSpanId: string, sofaTraceId: string, sofaRpcId: string, newContext: string | undefined) {
    const sc = server.spanContext()
    this.traceId = sc.traceId
    this.spanId = sc.spanId
    this.parentSpanId = parentSpanId
    this.sofaTraceId = sofaTraceId === '' ? sc.traceId : sofaTraceId
    this.sofaRpcId = sofaRpcId === '' ? '0' : sofaRpcId
    this.server = server
    this.context = context
    this.newContext = newContext
    this.client = null
  }
}

export class TraceFilter implements Filter {
  readonly #wire: WireOptions
  /**
   * The global provider as the filter was made. Before an SDK registers, that is the API's
   * proxy, which setGlobalTracerProvider() later points at the SDK: asking it for its delegate
   * is the whole per-call cost without an SDK (trace.getTracerProvider() itself reads a symbol
   * off globalThis, ~5x dearer).
   */
  readonly #proxy: ProxyTracerProvider | null
  readonly #tracer: Tracer

  constructor (wire: WireOptions) {
    this.#wire = wire
    const p = trace.getTracerProvider()
    this.#proxy = p instanceof ProxyTracerProvider ? p : null
    this.#tracer = p.getTracer(SCOPE)
  }

  /** The tracer, or null while no SDK is registered (the API's no-op provider). */
  #active (): Tracer | null {
    return this.#proxy !== null && this.#proxy.getDelegate() === NOOP_PROVIDER ? null : this.#tracer
  }

  onRequest (call: Call): Verdict {
    if (call.trace !== null) return CONTINUE
    const tracer = this.#active()
    if (tracer !== null) this.#startServer(tracer, call)
    return CONTINUE
  }

  onUpstream (call: Call): void {
    const st = call.trace
    if (!(st instanceof CallSpans)) return
    const tracer = this.#active()
    if (tracer === null) return
    if (st.client !== null) st.client.end() // a previous attempt
    const host = call.host
    const attrs = rpcAttributes(call)
    if (host !== null) { attrs['server.address'] = host.address; attrs['server.port'] = host.port; attrs['isthmus.host'] = host.id }
    if (call.cluster !== null) attrs['isthmus.cluster'] = call.cluster.name
    const client = tracer.startSpan(spanName(call), { kind: SpanKind.CLIENT, attributes: attrs }, st.context)
    st.client = client
    const sc = client.spanContext()
    // A valid context is propagated even when not sampled (the flags say so).
    if (isSpanContextValid(sc)) writeOutgoing(call, sc, st.sofaTraceId, st.sofaRpcId, st.newContext, this.#wire)
  }

  onLog (call: Call): void {
    let st = call.trace
    if (st === null) {
      // The call ended before this filter's onRequest ran (an earlier filter answered, a route
      // miss): its server span still exists, dated from the call's start.
      const tracer = this.#active()
      if (tracer === null) return
      st = this.#startServer(tracer, call)
    }
    if (!(st instanceof CallSpans)) return
    const end = call.endedAt === 0 ? performance.now() : call.endedAt
    if (st.client !== null) {
      finishSpan(st.client, call, end)
      st.client = null
    }
    const s = st.server
    s.updateName(spanName(call))
    if (call.route !== null) s.setAttribute('isthmus.route', call.route.name)
    if (call.cluster !== null) s.setAttribute('isthmus.cluster', call.cluster.name)
    if (call.method !== '') s.setAttribute('rpc.method', call.method)
    finishSpan(s, call, end)
  }

  #startServer (tracer: Tracer, call: Call): CallSpans | null {
    const inc = readIncoming(call, this.#wire)
    const parent = inc.parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, inc.parent)
    const attrs = rpcAttributes(call)
    attrs['client.address'] = call.remoteAddress
    const server = tracer.startSpan(spanName(call), { kind: SpanKind.SERVER, startTime: call.startedAt, attributes: attrs }, parent)
    if (!isSpanContextValid(server.spanContext())) return null // a no-op tracer of another API copy
    const st = new CallSpans(server, trace.setSpan(ROOT_CONTEXT, server), inc.parentSpanId, inc.sofaTraceId, inc.sofaRpcId, inc.newContext)
    call.trace = st
    return st
  }
}

function spanName (call: Call): string {
  const svc = call.service === '' ? '(no service)' : call.service
  return call.method === '' ? svc : svc + '/' + call.method
}

function rpcAttributes (call: Call): Attributes {
  const a: Attributes = { 'rpc.system': call.protocol === 'triple' ? 'triple' : 'sofa_bolt', 'rpc.service': call.service }
  if (call.method !== '') a['rpc.method'] = call.method
  return a
}

/** Status attributes and span status from the call's outcome, then end at `end`. */
function finishSpan (span: Span, call: Call, end: number): void {
  const status = call.status
  if (call.protocol === 'triple') span.setAttribute('rpc.grpc.status_code', status)
  else span.setAttribute('isthmus.bolt.status', status)
  if (call.code !== null) span.setAttribute('isthmus.error_code', call.code)
  if (status !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: call.code ?? call.message })
  span.end(end)
}
