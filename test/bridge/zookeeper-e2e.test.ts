/**
 * End to end, all real: ZooKeeper (Debian package), sofa-rpc-node providers registering
 * through sofa-rpc-node's ZooKeeper registry, the gateway and the bridge each as their own
 * compiled-CLI process, sofa-rpc-node consumers calling the gateway's Bolt listener.
 */
import test from 'ava'
import { sofaClient, sofaConsumer, startSofaServer, TEST_SERVICE } from '../_peers/sofa-rpc.js'
import { adminApi, spawnBridge, waitFor } from './_bridge.js'
import { ADMIN_TOKEN, startBridgeGateway } from './_gateway.js'
import { sofaRpcClient, startZkProvider } from './_sofa-zk.js'
import { javaProviderNode, startZooKeeper, zkSession } from './_zk.js'

const SVC = 'com.isthmus.bridge.EchoService'

test('sofa-rpc-node providers become a cluster; one stops during 1,000 calls with none failing; a new one gets calls', async t => {
  const zk = await startZooKeeper(t)
  const gw = await startBridgeGateway(t)
  const api = adminApi(gw.admin, ADMIN_TOKEN)
  const providers = [
    await startZkProvider(t, { zk: zk.connect, appName: 'echo-app', services: [SVC], name: 'a' }),
    await startZkProvider(t, { zk: zk.connect, appName: 'echo-app', services: [SVC], name: 'b' }),
  ]
  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile, '--service-prefix', 'com.isthmus.bridge.'])
  const hostsOf = async (): Promise<number[]> => {
    const r = await api('GET', '/v1/clusters/echo-app:bolt')
    return r.status === 200 ? (r.body.cluster.hosts as Array<{ port: number }>).map(h => h.port).sort() : []
  }
  await waitFor('both providers in the cluster', async () => (await hostsOf()).length === 2)
  t.deepEqual(await hostsOf(), providers.map(p => p.port).sort())
  t.true(bridge.logs.some(l => l.msg === 'registry layout' && l.layout === 'java'), 'the bridge says which layout it found')
  const app = await api('GET', '/v1/discovery/apps/echo-app')
  t.deepEqual(app.body.services, [{ name: SVC, version: '1.0' }])
  t.is(await bridge.metric('isthmus_bridge_pushes_total', { kind: 'app' }), 1, 'one app-level push for the app')

  const rpc = sofaRpcClient(t)
  const consumer = await rpc.consumer(SVC, gw.bolt)
  t.regex(String(await consumer.invoke('echo', ['hi'])), /^[ab]:hi$/)

  // 1,000 calls, 8 at a time; after ~200, provider b deregisters (its node goes), the test
  // waits for the gateway to drop it and only then stops b's server (a graceful provider).
  let failures = 0
  const errors: string[] = []
  let done = 0
  const [a, b] = providers
  const load = Promise.all(Array.from({ length: 8 }, async (_, k) => {
    for (let i = 0; i < 125; i++) {
      try { await consumer.invoke('echo', [`${k}-${i}`]) } catch (err) { failures++; errors.push((err as Error).message) }
      done++
    }
  }))
  await waitFor('200 calls', () => done >= 200, 60000, 5)
  const patchesBefore = await bridge.metric('isthmus_bridge_pushes_total', { kind: 'patch' })
  await b.unPublish()
  await waitFor('b removed from the cluster', async () => !(await hostsOf()).includes(b.port), 30000, 20)
  const bHits = b.hits
  await b.close()
  await load
  t.is(failures, 0, errors.slice(0, 3).join('; '))
  t.is(done, 1000)
  t.is(await bridge.metric('isthmus_bridge_pushes_total', { kind: 'patch' }), patchesBefore + 1, 'the removal was one incremental host change')
  const aBefore = a.hits
  for (let i = 0; i < 20; i++) await consumer.invoke('echo', [i])
  t.is(a.hits, aBefore + 20)
  t.is(b.hits, bHits)

  // A new provider: its node appears, then calls reach it (waited for, not timed).
  const c = await startZkProvider(t, { zk: zk.connect, appName: 'echo-app', services: [SVC], name: 'c' })
  const registeredAt = Date.now()
  let cServed = 0
  await waitFor('c receives calls', async () => {
    await Promise.all(Array.from({ length: 4 }, () => consumer.invoke('echo', ['x'])))
    cServed = c.hits
    return cServed > 0
  }, 30000, 10)
  t.log(`new provider served its first call ${Date.now() - registeredAt} ms after it registered`)
  t.true(await bridge.metric('isthmus_bridge_providers') === 2)
  t.is(await bridge.metric('isthmus_bridge_push_errors_total'), 0)
  t.is(await bridge.stop(), 0)
})

test('Java SOFARPC nodes (URL-encoded, written as a Java provider writes them) are understood: app, uniqueId, weight, warm-up', async t => {
  const zk = await startZooKeeper(t)
  const gw = await startBridgeGateway(t)
  const api = adminApi(gw.admin, ADMIN_TOKEN)
  const s = await zkSession(t, zk.connect)
  const dir = `/sofa-rpc/${SVC}/providers`
  await s.mkdirp(dir)
  const now = Date.now()
  await s.ephemeral(`${dir}/${javaProviderNode({ host: '127.0.0.1', port: 12201, iface: SVC, appName: 'java-app', uniqueId: 'blue', weight: 200, extra: { zone: 'GZ00A', note: 'a b+c%' } })}`)
  await s.ephemeral(`${dir}/${javaProviderNode({ host: '127.0.0.1', port: 12202, iface: SVC, appName: 'java-app', uniqueId: 'blue', weight: 100, startTime: now, warmupTime: 3600000, warmupWeight: 10 })}`)
  // Skipped: another protocol, a bad port, an undecodable name.
  await s.ephemeral(`${dir}/${javaProviderNode({ protocol: 'rest', host: '127.0.0.1', port: 8341, iface: SVC, appName: 'java-app' })}`)
  await s.ephemeral(`${dir}/${javaProviderNode({ host: '127.0.0.1', port: 70000, iface: SVC, appName: 'java-app' })}`)
  await s.ephemeral(`${dir}/bolt%3A%2F%2F%E0%A4%A`)
  // A service outside the filter is never read.
  await s.mkdirp('/sofa-rpc/com.other.Secret/providers')
  await s.ephemeral(`/sofa-rpc/com.other.Secret/providers/${javaProviderNode({ host: '127.0.0.1', port: 12209, iface: 'com.other.Secret', appName: 'java-app' })}`)

  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile,
    '--service', SVC, '--label', 'note=note'])
  await waitFor('java-app pushed', async () => (await api('GET', '/v1/discovery/apps/java-app')).status === 200)
  const app = (await api('GET', '/v1/discovery/apps/java-app')).body
  t.deepEqual(app.services, [{ name: SVC, version: '1.0', group: 'blue' }])
  t.deepEqual(app.instances, [
    { address: '127.0.0.1', port: 12201, protocols: ['bolt'], labels: { note: 'a b+c%', bridge: 'zookeeper' }, weight: 200, zone: 'GZ00A' },
    { address: '127.0.0.1', port: 12202, protocols: ['bolt'], labels: { bridge: 'zookeeper' }, weight: 10 },
  ])
  // The weights reach the gateway's hosts.
  const cluster = (await api('GET', '/v1/clusters/java-app:bolt')).body.cluster
  t.deepEqual(cluster.hosts.map((h: { port: number, weight: number }) => [h.port, h.weight]), [[12201, 200], [12202, 10]])
  t.is(await bridge.metric('isthmus_bridge_providers_skipped_total', { reason: 'protocol' }), 1)
  t.is(await bridge.metric('isthmus_bridge_providers_skipped_total', { reason: 'bad-url' }), 2)
  t.is(await bridge.metric('isthmus_bridge_services', { state: 'filtered' }), 1)
  t.is((await api('GET', '/v1/discovery/apps')).body.apps.length, 1)

  // Warm-up ends 1.5 s from now for a third provider: its weight steps from 5 to 300.
  await s.ephemeral(`${dir}/${javaProviderNode({ host: '127.0.0.1', port: 12203, iface: SVC, appName: 'java-app', uniqueId: 'blue', weight: 300, startTime: Date.now() - 1000, warmupTime: 2500, warmupWeight: 5 })}`)
  const weightOf = async (port: number): Promise<number | undefined> => ((await api('GET', '/v1/clusters/java-app:bolt')).body.cluster.hosts as Array<{ port: number, weight: number }>).find(h => h.port === port)?.weight
  await waitFor('warming provider added', async () => await weightOf(12203) === 5)
  await waitFor('warm-up over', async () => await weightOf(12203) === 300, 30000)
  t.is(await weightOf(12202), 10, 'a provider still warming keeps its warm-up weight')

  // A provider without appName: an interface-level push.
  const ifaceOnly = 'com.isthmus.bridge.Plain'
  await s.mkdirp(`/sofa-rpc/${ifaceOnly}/providers`)
  await s.ephemeral(`/sofa-rpc/${ifaceOnly}/providers/${javaProviderNode({ host: '127.0.0.1', port: 12210, iface: ifaceOnly })}`)
  await bridge.stop()
  const again = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile, '--service-prefix', 'com.isthmus.bridge.', '--label', 'note=note'])
  await waitFor('interface-level push', async () => (await api('GET', `/v1/discovery/services/${ifaceOnly}`)).status === 200)
  const svc = (await api('GET', `/v1/discovery/services/${ifaceOnly}`)).body
  t.is(svc.app, ifaceOnly)
  t.is(svc.version, '1.0')
  t.deepEqual(svc.providers.map((p: { port: number }) => p.port), [12210])
  t.is(await again.metric('isthmus_bridge_pushes_total', { kind: 'service' }), 1)
  // The restarted bridge found java-app identical in the admin: it pushed nothing for it.
  t.is(await again.metric('isthmus_bridge_pushes_total', { kind: 'app' }), 0)
})

test('SOFARPC weights and warm-up reach the load balancer: a warming provider gets its small share of real calls', async t => {
  const zk = await startZooKeeper(t)
  const gw = await startBridgeGateway(t)
  const api = adminApi(gw.admin, ADMIN_TOKEN)
  const [steady, warming] = [await startSofaServer(), await startSofaServer()]
  t.teardown(() => steady.close())
  t.teardown(() => warming.close())
  const s = await zkSession(t, zk.connect)
  const dir = `/sofa-rpc/${TEST_SERVICE}/providers`
  await s.mkdirp(dir)
  await s.ephemeral(`${dir}/${javaProviderNode({ host: '127.0.0.1', port: steady.port, iface: TEST_SERVICE, appName: 'weighted', weight: 100 })}`)
  await s.ephemeral(`${dir}/${javaProviderNode({ host: '127.0.0.1', port: warming.port, iface: TEST_SERVICE, appName: 'weighted', weight: 100, startTime: Date.now(), warmupTime: 3600000, warmupWeight: 10 })}`)
  await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile, '--service', TEST_SERVICE])
  await waitFor('both hosts', async () => (await api('GET', '/v1/clusters/weighted:bolt')).body?.cluster?.hosts?.length === 2)
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.bolt)
  for (let i = 0; i < 440; i++) await c.invoke('note', [i])
  const share = warming.onewayHits.length / 440
  t.log(`warming provider (warm-up weight 10 vs 100): ${(share * 100).toFixed(1)}% of the calls`)
  t.true(share > 0 && share < 0.2, String(share))
  t.is(steady.onewayHits.length + warming.onewayHits.length, 440)
})
