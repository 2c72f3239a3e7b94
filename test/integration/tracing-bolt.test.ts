/**
 * Tracing on Bolt: sofa-rpc-node client -> gateway (in-process, an in-memory OTel SDK
 * registered) -> sofa-rpc-node server whose connections record every request's header map.
 * SOFA trace context is bridged both ways: `rpc_trace_context.sofaTraceId`/`sofaRpcId` and
 * `new_rpc_trace_context` (sofa-rpc's RpcSofaTracer) in, the child call's ids out.
 * Serial: the tracer provider is the process's.
 */
import test, { type ExecutionContext } from 'ava'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE, TEST_VERSION } from '../_peers/sofa-rpc.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, readResponse, requestFrame, withHeaderMap } from '../_helpers/bolt-frames.js'
import { registerMemoryTracing } from '../_helpers/otel.js'

const otel = registerMemoryTracing()
const SOFA_TRACE = '0a0fe8ec1534850834287100111234'

async function setup (t: ExecutionContext, filterOptions: Record<string, unknown> = {}) {
  otel.exporter.reset()
  const maps: Array<Record<string, string | null>> = []
  const peer = await startSofaServer({ headerMaps: maps })
  t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port, filters: [{ name: 'trace', config: filterOptions }] })
  t.teardown(() => gw.close())
  return { maps, gw }
}

function pair (spans: ReadableSpan[]): { server: ReadableSpan, client: ReadableSpan } {
  const server = spans.find(s => s.kind === SpanKind.SERVER)
  const client = spans.find(s => s.kind === SpanKind.CLIENT)
  if (server === undefined || client === undefined) throw new Error('missing span')
  return { server, client }
}
const both = (spans: ReadableSpan[]): boolean => spans.some(s => s.kind === SpanKind.SERVER) && spans.some(s => s.kind === SpanKind.CLIENT)

/** One raw request with extra header-map pairs; returns its response value. */
async function rawCall (t: ExecutionContext, port: number, extra: Record<string, string>): Promise<unknown> {
  const c = new RawBoltClient(port)
  t.teardown(() => c.close())
  await c.ready()
  const service = `${TEST_SERVICE}:${TEST_VERSION}`
  c.write(withHeaderMap(requestFrame({ id: 7, service, method: 'echo', args: ['hi'] }), { service, ...extra }))
  await c.until(() => c.byId(7) !== undefined, 20000)
  return readResponse(c.byId(7)!.buf).value
}

test.serial('sofa-rpc-node call: server and client spans linked; the upstream gets the trace as SOFA ids and traceparent', async t => {
  const { maps, gw } = await setup(t, { boltMethod: true })
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.port)
  t.is(await c.invoke('plus', [1, 2]), 3)
  const { server, client: cs } = pair(await otel.until(both))
  t.is(server.name, `${TEST_SERVICE}/plus`)
  t.is(server.parentSpanContext, undefined)
  t.is(cs.parentSpanContext?.spanId, server.spanContext().spanId)
  t.is(cs.spanContext().traceId, server.spanContext().traceId)
  for (const s of [server, cs]) {
    t.is(s.attributes['rpc.system'], 'sofa_bolt')
    t.is(s.attributes['rpc.service'], TEST_SERVICE)
    t.is(s.attributes['rpc.method'], 'plus')
    t.is(s.attributes['isthmus.bolt.status'], 0)
    t.is(s.status.code, SpanStatusCode.UNSET)
  }
  const traceId = server.spanContext().traceId
  const m = maps.find(x => x.service !== undefined)!
  t.is(m['rpc_trace_context.sofaTraceId'], traceId)
  t.is(m['rpc_trace_context.sofaRpcId'], '0.1')
  t.is(m.traceparent, `00-${traceId}-${cs.spanContext().spanId}-01`)
})

test.serial('old-style rpc_trace_context ids in: the W3C trace is the SOFA trace, the upstream gets the child rpc id', async t => {
  const { maps, gw } = await setup(t)
  t.is(await rawCall(t, gw.port, { 'rpc_trace_context.sofaTraceId': SOFA_TRACE, 'rpc_trace_context.sofaRpcId': '0.3' }), 'hi')
  const { server, client: cs } = pair(await otel.until(both))
  t.is(server.spanContext().traceId, '00' + SOFA_TRACE)
  t.true(server.parentSpanContext?.isRemote)
  t.is(cs.parentSpanContext?.spanId, server.spanContext().spanId)
  const m = maps[maps.length - 1]
  t.is(m['rpc_trace_context.sofaTraceId'], SOFA_TRACE)
  t.is(m['rpc_trace_context.sofaRpcId'], '0.3.1')
  t.is(m.traceparent, `00-00${SOFA_TRACE}-${cs.spanContext().spanId}-01`)
})

test.serial('new_rpc_trace_context in: rewritten for the child call, its sampling mark and baggage kept', async t => {
  const { maps, gw } = await setup(t)
  const ctx = `tcid=${SOFA_TRACE}&spid=0.2&pspid=0&sample=true&mark=T&`
  t.is(await rawCall(t, gw.port, { new_rpc_trace_context: ctx }), 'hi')
  const { server } = pair(await otel.until(both))
  t.is(server.spanContext().traceId, '00' + SOFA_TRACE)
  const m = maps[maps.length - 1]
  t.is(m.new_rpc_trace_context, `tcid=${SOFA_TRACE}&spid=0.2.1&pspid=0.2&sample=true&mark=T&`)
  t.is(m['rpc_trace_context.sofaTraceId'], SOFA_TRACE)
  t.is(m['rpc_trace_context.sofaRpcId'], '0.2.1')
})

test.serial('a W3C traceparent in the Bolt header map (another Isthmus upstream of this one) is the parent', async t => {
  const { maps, gw } = await setup(t)
  t.is(await rawCall(t, gw.port, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }), 'hi')
  const { server, client: cs } = pair(await otel.until(both))
  t.is(server.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c')
  t.is(server.parentSpanContext?.spanId, 'b7ad6b7169203331')
  t.is(maps[maps.length - 1].traceparent, `00-0af7651916cd43dd8448eb211c80319c-${cs.spanContext().spanId}-01`)
})

test.serial('malformed SOFA ids are ignored: a new trace, nothing of them forwarded as the gateway\'s', async t => {
  const { maps, gw } = await setup(t)
  t.is(await rawCall(t, gw.port, { 'rpc_trace_context.sofaTraceId': 'a&b=c', 'rpc_trace_context.sofaRpcId': '0..1', new_rpc_trace_context: 'tcid=x&%zz' }), 'hi')
  const { server } = pair(await otel.until(both))
  t.is(server.parentSpanContext, undefined)
  const m = maps[maps.length - 1]
  t.is(m['rpc_trace_context.sofaTraceId'], server.spanContext().traceId)
  t.is(m['rpc_trace_context.sofaRpcId'], '0.1')
  t.is(m.new_rpc_trace_context, 'tcid=x&%zz') // not understood: passed through untouched
})
