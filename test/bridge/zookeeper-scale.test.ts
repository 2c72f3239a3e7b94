/**
 * 1,000 interfaces x 10 providers registered at once (10 apps of 100 interfaces, each app
 * with 10 provider processes, each process one ZooKeeper session registering its 100 nodes as
 * Java SOFARPC does) reach the gateway as app-level pushes; afterwards one provider stopping
 * is one small incremental push. Pushes are counted twice: by the bridge and by the gateway
 * (its admin generation grows by one per accepted write).
 */
import test from 'ava'
import { adminApi, spawnBridge, waitFor } from './_bridge.js'
import { ADMIN_TOKEN, startBridgeGateway } from './_gateway.js'
import { javaProviderNode, startZooKeeper, zkSession, type ZkSession } from './_zk.js'

const APPS = 10
const IFACES_PER_APP = 100
const PROVIDERS = 10

test('1,000 interfaces x 10 providers at once become 10 app-level pushes; one provider change is one small incremental push', async t => {
  const zk = await startZooKeeper(t)
  const gw = await startBridgeGateway(t)
  const api = adminApi(gw.admin, ADMIN_TOKEN)
  const iface = (app: number, i: number): string => `com.isthmus.scale.app${app}.Service${i}`
  const setup = await zkSession(t, zk.connect)
  await setup.mkdirp('/sofa-rpc')
  const dirs: string[] = []
  for (let a = 0; a < APPS; a++) for (let i = 0; i < IFACES_PER_APP; i++) dirs.push(`/sofa-rpc/${iface(a, i)}`, `/sofa-rpc/${iface(a, i)}/providers`)
  for (let k = 0; k < dirs.length; k += 500) await setup.createAll(dirs.slice(k, k + 500), false)

  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile, '--service-prefix', 'com.isthmus.scale.'])
  await waitFor('bridge ready', async () => (await fetch(`http://127.0.0.1:${bridge.port}/ready`)).status === 200)
  t.is(await bridge.metric('isthmus_bridge_services', { state: 'exported' }), APPS * IFACES_PER_APP)
  const gen0 = (await api('GET', '/v1/config')).body.generation as number

  // Open every provider's session first, then register all 10,000 nodes at once.
  const sessions: ZkSession[][] = []
  for (let a = 0; a < APPS; a++) {
    sessions.push(await Promise.all(Array.from({ length: PROVIDERS }, () => zkSession(t, zk.connect))))
  }
  const startTime = Date.now()
  const t0 = Date.now()
  await Promise.all(sessions.flatMap((row, a) => row.map((s, p) => s.createAll(
    Array.from({ length: IFACES_PER_APP }, (_, i) => `/sofa-rpc/${iface(a, i)}/providers/${javaProviderNode({ host: `127.0.1.${a + 1}`, port: 20000 + p, iface: iface(a, i), appName: `scale-app${a}`, startTime })}`),
    true,
  ))))
  const registered = Date.now() - t0
  const complete = async (): Promise<boolean> => {
    const apps = (await api('GET', '/v1/discovery/apps')).body.apps as Array<{ name: string }>
    if (apps.length !== APPS) return false
    for (let a = 0; a < APPS; a++) {
      const r = await api('GET', `/v1/discovery/apps/scale-app${a}`)
      if (r.status !== 200 || r.body.instances.length !== PROVIDERS || r.body.services.length !== IFACES_PER_APP) return false
    }
    return true
  }
  await waitFor('all apps complete in the gateway', complete, 60000, 20)
  const reached = Date.now() - t0
  await waitFor('bridge idle', async () => (await bridge.status()).pending === 0)
  const appPushes = await bridge.metric('isthmus_bridge_pushes_total', { kind: 'app' })
  const patches = await bridge.metric('isthmus_bridge_pushes_total', { kind: 'patch' })
  const gen1 = (await api('GET', '/v1/config')).body.generation as number
  t.log(`10,000 provider nodes registered in ${registered} ms; all in the gateway ${reached} ms after the first; ${appPushes} app-level pushes, ${patches} incremental`)
  t.is(await bridge.metric('isthmus_bridge_pushes_total', { kind: 'service' }), 0, 'no interface-level push')
  t.is(gen1 - gen0, appPushes + patches, 'the gateway accepted exactly the pushes the bridge counted')
  t.true(appPushes >= APPS, 'every app got its app-level push')
  // One push per app when the burst fits the coalescing window; a slow machine may split it
  // (the rest then follows as host PATCHes), but never toward one push per interface (1,000)
  // or per provider node (10,000).
  t.true(appPushes + patches <= 3 * APPS, `pushes: ${appPushes} + ${patches}`)
  const cluster = (await api('GET', '/v1/clusters/scale-app3:bolt')).body.cluster
  t.is(cluster.hosts.length, PROVIDERS)

  // One provider of app 3 stops: its session ends and its 100 nodes go at once.
  const bytes0 = await bridge.metric('isthmus_bridge_push_bytes_total')
  sessions[3][7].close()
  await waitFor('provider removed', async () => (await api('GET', '/v1/discovery/apps/scale-app3')).body.instances.length === PROVIDERS - 1, 30000, 20)
  await waitFor('bridge idle', async () => (await bridge.status()).pending === 0)
  const gen2 = (await api('GET', '/v1/config')).body.generation as number
  const bytes = await bridge.metric('isthmus_bridge_push_bytes_total') - bytes0
  t.is(gen2 - gen1, 1, 'one write reached the gateway')
  t.is(await bridge.metric('isthmus_bridge_pushes_total', { kind: 'patch' }), patches + 1, 'an incremental host change')
  t.is(await bridge.metric('isthmus_bridge_pushes_total', { kind: 'app' }), appPushes, 'no full push')
  t.true(bytes < 200, `the push was ${bytes} bytes`)
  t.log(`the incremental push: ${bytes} bytes (a full push of the app: ~${JSON.stringify((await api('GET', '/v1/discovery/apps/scale-app3')).body).length} bytes)`)
  const hosts = ((await api('GET', '/v1/clusters/scale-app3:bolt')).body.cluster.hosts as Array<{ port: number }>).map(h => h.port)
  t.false(hosts.includes(20007))
  t.is(hosts.length, PROVIDERS - 1)
})
