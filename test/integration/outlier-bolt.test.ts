/**
 * Outlier ejection on Bolt outcomes (issue 10, item 4): a sofa-rpc-node host answering
 * SERVER_EXCEPTION is ejected and readmitted, for longer each time; a connection lost with
 * many calls on it is one failure of the host, not one per call.
 */
import test from 'ava'
import { sofaClient, sofaConsumer, startSofaServerFor } from '../_peers/sofa-rpc.js'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { startTestGateway } from '../_helpers/gateway.js'
import { eventually } from '../_helpers/spawned-triple.js'
import { clusterState, hostOf, metricSum, metrics } from '../_helpers/outlier.js'

const TOKEN = 'test-token'
const SERVICE = 'com.isthmus.test.Flaky'

function boltConfig (name: string, ports: number[], outlier: Record<string, unknown>): Record<string, unknown> {
  return {
    entity: 'test',
    listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN } },
    clusters: [{ name, protocol: 'bolt', hosts: ports.map(port => ({ address: '127.0.0.1', port })), outlier }],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: name }],
    drain: { timeoutMs: 1000 },
  }
}

test('a host answering Bolt SERVER_EXCEPTION is ejected, readmitted, and ejected again for longer', async (t) => {
  let badCalls = 0
  const good = await startSofaServerFor(SERVICE, { async echo () { return 'good' } })
  const bad = await startSofaServerFor(SERVICE, { async echo () { badCalls++; throw new Error('host is broken') } })
  t.teardown(() => good.close())
  t.teardown(() => bad.close())
  const gw = await startTestGateway(t, boltConfig('ob-exception', [good.port, bad.port], { consecutiveStatusFailures: 3, boltStatuses: ['SERVER_EXCEPTION'], ejectMs: 400, maxEjectedPercent: 50, intervalMs: 600000 }))
  const admin = gw.addresses.admin.port
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.addresses.bolt!.port, SERVICE)
  const call = async (): Promise<string> => await c.invoke('echo', ['x'], { responseTimeout: 10000 }).then(v => String(v), (e: Error) => `error ${e.message}`)
  const bolt = async (): Promise<ReturnType<typeof hostOf>> => hostOf(await clusterState(admin, TOKEN, 'ob-exception'), bad.port)

  t.true(await eventually(async () => { await call(); return (await bolt()).ejected }), 'ejected')
  let s = await bolt()
  t.is(s.ejections, 1)
  t.is(s.lastEjectReason, 'status')
  t.is(s.lastEjectMs, 400)
  t.false(hostOf(await clusterState(admin, TOKEN, 'ob-exception'), good.port).ejected)
  for (let i = 0; i < 5; i++) {
    const who = await call()
    if ((await bolt()).ejected) t.is(who, 'good')
  }
  const before = badCalls
  t.true(await eventually(async () => { await call(); return badCalls > before && (await bolt()).ejections === 2 }), 'readmitted, then ejected again')
  s = await bolt()
  t.is(s.lastEjectMs, 800, 'the second ejection lasts twice as long')
  t.is(metricSum(await metrics(admin), 'isthmus_outlier_ejections_total', { cluster: 'ob-exception', reason: 'status' }), 2)
})

test('a connection lost with many calls in flight is one failure of the host', async (t) => {
  const up = await startRawUpstream()
  up.answerRequests = false
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, boltConfig('ob-lost', [up.port], { consecutiveFailures: 2, ejectMs: 600000, maxEjectedPercent: 100 }))
  const admin = gw.addresses.admin.port
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.addresses.bolt!.port, SERVICE)
  const calls = Array.from({ length: 8 }, () => c.invoke('echo', ['x'], { responseTimeout: 30000 }).then(() => 'ok', (e: Error) => e.message))
  t.true(await eventually(() => up.received >= 8), 'all eight reached the upstream on its shared connection')
  for (const s of up.sockets) s.destroy()
  const results = await Promise.all(calls)
  t.true(results.every(r => /ISTH_ERR_UPSTREAM_RESET/.test(r)), results.join(' | '))
  const s = hostOf(await clusterState(admin, TOKEN, 'ob-lost'), up.port)
  t.is(s.consecutiveFailures, 1, 'one lost connection, one failure')
  t.is(s.ejections, 0)
})
