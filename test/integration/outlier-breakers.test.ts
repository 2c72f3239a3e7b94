/**
 * Circuit breakers per cluster (issue 10, item 4): past maxRequests calls in flight, or
 * maxConnections sessions, a call is refused with RESOURCE_EXHAUSTED (ISTH_ERR_UPSTREAM_OVERLOADED)
 * and the trip is counted; the admin shows the load.
 */
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { eventually } from '../_helpers/spawned-triple.js'
import { clusterState, metricSum, metrics } from '../_helpers/outlier.js'

function config (name: string, ports: number[], cluster: Record<string, unknown>): Record<string, unknown> {
  const cfg = tripleConfig(ports)
  Object.assign((cfg.clusters as Array<Record<string, unknown>>)[0], { name, ...cluster })
  ;(cfg.routes as Array<Record<string, unknown>>)[0].cluster = name
  return cfg
}

test('maxRequests: calls past the cap are refused at once and counted; the admin shows the calls in flight', async (t) => {
  const slow = await startEchoServer('slow')
  t.teardown(() => slow.close())
  const gw = await startTestGateway(t, config('cb-requests', [slow.port], { circuitBreakers: { maxRequests: 2 } }))
  const admin = gw.addresses.admin.port
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const held = [0, 1].map(() => unary(client, { message: 'h', delayMs: 1500 }))
  t.true(await eventually(async () => (await clusterState(admin, 'test-token', 'cb-requests')).inFlight === 2))
  for (let i = 0; i < 3; i++) {
    const err = await t.throwsAsync(unary(client, { message: 'x' })) as grpc.ServiceError
    t.is(err.code, grpc.status.RESOURCE_EXHAUSTED)
    t.regex(err.details, /maxRequests/)
  }
  await Promise.all(held)
  t.is((await unary(client, { message: 'after' })).reply.servedBy, 'slow')
  t.is(metricSum(await metrics(admin), 'isthmus_circuit_breaker_trips_total', { cluster: 'cb-requests', breaker: 'requests' }), 3)
  t.is((await clusterState(admin, 'test-token', 'cb-requests')).inFlight, 0)
})

test('maxConnections: one session for two hosts; the second host\'s calls wait and are refused', async (t) => {
  const a = await startEchoServer('a')
  const b = await startEchoServer('b')
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const gw = await startTestGateway(t, config('cb-conns', [a.port, b.port], { circuitBreakers: { maxConnections: 1 }, upstream: { pendingTimeoutMs: 200 } }))
  const admin = gw.addresses.admin.port
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const served = new Map<string, number>()
  let refused = 0
  for (let i = 0; i < 6; i++) {
    try { const who = (await unary(client, { message: 'x' })).reply.servedBy; served.set(who, (served.get(who) ?? 0) + 1) } catch (e) { if ((e as grpc.ServiceError).code === grpc.status.RESOURCE_EXHAUSTED) refused++ }
  }
  t.is(served.size, 1, 'only one host could get a session')
  t.is(refused, 3)
  t.is((await clusterState(admin, 'test-token', 'cb-conns')).connections, 1)
  t.true(metricSum(await metrics(admin), 'isthmus_circuit_breaker_trips_total', { cluster: 'cb-conns', breaker: 'connections' }) >= 3)
})
