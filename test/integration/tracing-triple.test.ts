/**
 * Tracing on Triple: grpc-js client -> gateway (in-process, an in-memory OTel SDK registered)
 * -> grpc-js server. A server span per call, a client span per upstream attempt, W3C
 * `traceparent` and the SOFA Triple ids (sofa-rpc's TripleHeadKeys) at the upstream.
 * Serial: the tracer provider is the process's.
 */
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { registerMemoryTracing } from '../_helpers/otel.js'
import { tempDir } from '../filters/audit/_trail.js'
import { records, until } from '../filters/audit/_read.js'

const otel = registerMemoryTracing()
const SVC = 'isthmus.test.Echo'

async function setup (t: import('ava').ExecutionContext) {
  otel.exporter.reset()
  const up = await startEchoServer('up1')
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], { filters: [{ name: 'trace' }] }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  return { up, client }
}

function pair (spans: ReadableSpan[]): { server: ReadableSpan, client: ReadableSpan } {
  const server = spans.find(s => s.kind === SpanKind.SERVER)
  const client = spans.find(s => s.kind === SpanKind.CLIENT)
  if (server === undefined || client === undefined) throw new Error('missing span')
  return { server, client }
}
const both = (spans: ReadableSpan[]): boolean => spans.some(s => s.kind === SpanKind.SERVER) && spans.some(s => s.kind === SpanKind.CLIENT)
const md1 = (md: grpc.Metadata, k: string): string | undefined => md.get(k)[0] as string | undefined

test.serial('a caller\'s traceparent: server span is its child, client span the server span\'s, traceparent at the upstream names the client span', async t => {
  const { up, client } = await setup(t)
  const md = new grpc.Metadata()
  md.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  const { reply } = await unary(client, { message: 'hi' }, md)
  t.is(reply.servedBy, 'up1')
  const { server, client: cs } = pair(await otel.until(both))
  t.is(server.name, `${SVC}/Unary`)
  t.is(server.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c')
  t.is(server.parentSpanContext?.spanId, 'b7ad6b7169203331')
  t.true(server.parentSpanContext?.isRemote)
  t.is(cs.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c')
  t.is(cs.parentSpanContext?.spanId, server.spanContext().spanId)
  for (const s of [server, cs]) {
    t.is(s.attributes['rpc.service'], SVC)
    t.is(s.attributes['rpc.method'], 'Unary')
    t.is(s.attributes['rpc.grpc.status_code'], 0)
    t.is(s.status.code, SpanStatusCode.UNSET)
  }
  t.is(cs.attributes['server.port'], up.port)
  t.is(cs.attributes['isthmus.cluster'], 'echo')
  t.is(server.attributes['isthmus.route'], 'all')
  const seen = up.seen[0]
  t.is(md1(seen, 'traceparent'), `00-0af7651916cd43dd8448eb211c80319c-${cs.spanContext().spanId}-01`)
  // No SOFA ids came in: the SOFA trace is the W3C one, the gateway is its root (rpc id 0).
  t.is(md1(seen, 'tri-trace-traceid'), '0af7651916cd43dd8448eb211c80319c')
  t.is(md1(seen, 'tri-trace-rpcid'), '0.1')
  t.is(md1(seen, 'sofa-traceid'), '0af7651916cd43dd8448eb211c80319c')
  t.is(md1(seen, 'sofa-rpcid'), '0.1')
})

test.serial('no context in the request: the gateway starts the trace and propagates it', async t => {
  const { up, client } = await setup(t)
  await unary(client, { message: 'hi' })
  const { server, client: cs } = pair(await otel.until(both))
  t.is(server.parentSpanContext, undefined)
  t.is(cs.parentSpanContext?.spanId, server.spanContext().spanId)
  t.is(md1(up.seen[0], 'traceparent'), `00-${server.spanContext().traceId}-${cs.spanContext().spanId}-01`)
})

test.serial('SOFA Triple ids only (tri-trace-traceid / tri-trace-rpcid): bridged into the W3C trace, the child rpc id goes upstream', async t => {
  const { up, client } = await setup(t)
  const md = new grpc.Metadata()
  md.set('tri-trace-traceid', '0a0fe8ec1534850834287100111234')
  md.set('tri-trace-rpcid', '0.2')
  await unary(client, { message: 'hi' }, md)
  const { server, client: cs } = pair(await otel.until(both))
  t.is(server.spanContext().traceId, '000a0fe8ec1534850834287100111234')
  t.true(server.parentSpanContext?.isRemote)
  const seen = up.seen[0]
  t.is(md1(seen, 'tri-trace-traceid'), '0a0fe8ec1534850834287100111234')
  t.is(md1(seen, 'tri-trace-rpcid'), '0.2.1')
  t.is(md1(seen, 'sofa-traceid'), '0a0fe8ec1534850834287100111234')
  t.is(md1(seen, 'sofa-rpcid'), '0.2.1')
  t.is(md1(seen, 'traceparent'), `00-000a0fe8ec1534850834287100111234-${cs.spanContext().spanId}-01`)
})

test.serial('a failed call: both spans carry the gRPC status and are errors', async t => {
  const { client } = await setup(t)
  await t.throwsAsync(unary(client, { message: 'x', failCode: grpc.status.NOT_FOUND }))
  const { server, client: cs } = pair(await otel.until(both))
  for (const s of [server, cs]) {
    t.is(s.attributes['rpc.grpc.status_code'], grpc.status.NOT_FOUND)
    t.is(s.status.code, SpanStatusCode.ERROR)
  }
})

test.serial('calls the gateway answers itself still have their server span (dated from the call\'s start), and no client span: a route miss, and a deny by a filter listed before trace', async t => {
  otel.exporter.reset()
  const up = await startEchoServer('up1')
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], {
    filters: [{ name: 'deny', config: { rules: [{ name: 'd', header: { name: 'x-deny' } }] } }, { name: 'trace' }],
    routes: [{ name: 'other', match: { service: 'other.Svc' }, cluster: 'echo' }],
  }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const before = Date.now()
  await t.throwsAsync(unary(client, { message: 'x' }))
  const denied = new grpc.Metadata()
  denied.set('x-deny', '1')
  await t.throwsAsync(unary(client, { message: 'x' }, denied))
  const spans = await otel.until(s => s.filter(x => x.kind === SpanKind.SERVER).length === 2)
  t.is(spans.filter(s => s.kind === SpanKind.CLIENT).length, 0)
  t.deepEqual(spans.map(s => s.attributes['isthmus.error_code']).sort(), ['ISTH_ERR_FILTER_DENIED', 'ISTH_ERR_ROUTE_NOT_FOUND'])
  for (const s of spans) {
    t.is(s.status.code, SpanStatusCode.ERROR)
    t.true(s.startTime[0] * 1000 + s.startTime[1] / 1e6 >= before - 1000) // a real date, not a process-relative time
  }
})

test.serial('the audit record names the same trace: trace id, the caller\'s span as parent, the gateway\'s server span, SOFA ids', async t => {
  otel.exporter.reset()
  const dir = tempDir(t)
  const up = await startEchoServer('up1')
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], { filters: [{ name: 'trace' }], audit: { enabled: true, dir, flushMs: 10 } }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const md = new grpc.Metadata()
  md.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  await unary(client, { message: 'hi' }, md)
  const { server } = pair(await otel.until(both))
  await until(() => records(dir).length >= 1)
  t.deepEqual(records(dir)[0].call.trace, {
    id: '0af7651916cd43dd8448eb211c80319c', parent: 'b7ad6b7169203331', span: server.spanContext().spanId,
    sofaTraceId: '0af7651916cd43dd8448eb211c80319c', sofaRpcId: '0',
  })
})
