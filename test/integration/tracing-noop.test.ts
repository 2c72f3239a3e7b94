/**
 * The `trace` filter without an OTel SDK in the process: a no-op. Nothing is added to or
 * changed in what the upstream receives; a caller's own trace headers pass through as sent.
 */
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { trace } from '@opentelemetry/api'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { startSofaServer, sofaClient, sofaConsumer } from '../_peers/sofa-rpc.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'

test('no SDK registered: the API hands out its no-op provider', t => {
  t.false(trace.getTracer('probe').startSpan('probe').isRecording())
  t.is(trace.getTracer('probe').startSpan('probe').spanContext().traceId, '00000000000000000000000000000000')
})

test('Triple: nothing added, the caller\'s traceparent and SOFA ids forwarded as sent', async t => {
  const up = await startEchoServer('up1')
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], { filters: [{ name: 'trace' }] }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  await unary(client, { message: 'plain' })
  const md = new grpc.Metadata()
  md.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  md.set('tri-trace-rpcid', '0.2')
  await unary(client, { message: 'traced' }, md)
  const plain = up.seen[0].getMap()
  for (const k of ['traceparent', 'tri-trace-traceid', 'tri-trace-rpcid', 'sofa-traceid', 'sofa-rpcid']) t.false(k in plain, k)
  t.is(up.seen[1].get('traceparent')[0], '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  t.is(up.seen[1].get('tri-trace-rpcid')[0], '0.2')
  t.deepEqual(up.seen[1].get('tri-trace-traceid'), [])
})

test('Bolt: the header map reaches the upstream without trace keys', async t => {
  const maps: Array<Record<string, string | null>> = []
  const peer = await startSofaServer({ headerMaps: maps })
  t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port, filters: [{ name: 'trace' }] })
  t.teardown(() => gw.close())
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.port)
  t.is(await c.invoke('plus', [1, 2]), 3)
  const m = maps.find(x => x.service !== undefined)!
  t.deepEqual(Object.keys(m), ['service'])
})
