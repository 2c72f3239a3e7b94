/**
 * Outages, with real processes: ZooKeeper killed and restarted while calls run (no host is
 * removed while it is away; a full resync after), and the gateway (its admin API) stopped and
 * started, with its state kept and with its state lost (the bridge catches up with its newest
 * revision either way).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { adminApi, spawnBridge, waitFor } from './_bridge.js'
import { ADMIN_TOKEN, startBridgeGateway } from './_gateway.js'
import { sofaRpcClient, startZkProvider } from './_sofa-zk.js'
import { freePort, javaProviderNode, startZooKeeper, zkSession } from './_zk.js'

const SVC = 'com.isthmus.outage.EchoService'
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

test('ZooKeeper restarted mid-test: no host removed while it is away, calls keep working, a full resync after', async t => {
  const zk = await startZooKeeper(t, { maxSessionTimeoutMs: 30000 })
  const gw = await startBridgeGateway(t)
  const api = adminApi(gw.admin, ADMIN_TOKEN)
  const a = await startZkProvider(t, { zk: zk.connect, appName: 'outage-app', services: [SVC], name: 'a' })
  const b = await startZkProvider(t, { zk: zk.connect, appName: 'outage-app', services: [SVC], name: 'b' })
  // A Java provider of another app whose session dies while ZooKeeper is away.
  const javaSvc = 'com.isthmus.outage.Ledger'
  const dir = `/sofa-rpc/${javaSvc}/providers`
  const mortal = await zkSession(t, zk.connect, 2000)
  await mortal.mkdirp(dir)
  await mortal.ephemeral(`${dir}/${javaProviderNode({ host: '127.0.0.1', port: 12301, iface: javaSvc, appName: 'ledger' })}`)

  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile,
    '--service-prefix', 'com.isthmus.outage.', '--session-timeout-ms', '20000'])
  const hosts = async (cluster: string): Promise<number[]> => {
    const r = await api('GET', `/v1/clusters/${cluster}`)
    return r.status === 200 ? (r.body.cluster.hosts as Array<{ port: number }>).map(h => h.port).sort() : []
  }
  const both = [a.port, b.port].sort()
  await waitFor('outage-app with both hosts', async () => JSON.stringify(await hosts('outage-app:bolt')) === JSON.stringify(both))
  await waitFor('ledger pushed', async () => (await hosts('ledger:bolt')).length === 1)
  const consumer = await sofaRpcClient(t).consumer(SVC, gw.bolt)
  await consumer.invoke('echo', ['warm'])

  await zk.stop()
  mortal.close() // its session ends on the server only once ZooKeeper is back and the session times out
  await waitFor('bridge sees the disconnect', async () => await bridge.metric('isthmus_bridge_zookeeper_connected') === 0)
  const pushesBefore = await bridge.metric('isthmus_bridge_pushes_total')
  let failures = 0
  for (let round = 0; round < 6; round++) {
    await Promise.all(Array.from({ length: 10 }, () => consumer.invoke('echo', ['away']).catch(() => { failures++ })))
    t.deepEqual(await hosts('outage-app:bolt'), both, 'no host removed while ZooKeeper is away')
    t.deepEqual(await hosts('ledger:bolt'), [12301])
    await sleep(250)
  }
  t.is(failures, 0)
  t.is(await bridge.metric('isthmus_bridge_pushes_total'), pushesBefore, 'nothing pushed while away')

  await zk.start()
  await waitFor('full resync after the session came back', async () => await bridge.metric('isthmus_bridge_resyncs_total', { reason: 'zookeeper' }) >= 1, 120000)
  t.is(await bridge.metric('isthmus_bridge_zookeeper_connected'), 1)
  // The Java provider's session expired while it was gone: its node goes, and so does its host.
  await waitFor('dead Java provider removed', async () => (await hosts('ledger:bolt')).length === 0, 40000)
  t.deepEqual(await hosts('outage-app:bolt'), both, 'the live providers stay')
  // Watches work after the resync: a new provider is picked up.
  const c = await startZkProvider(t, { zk: zk.connect, appName: 'outage-app', services: [SVC], name: 'c' })
  await waitFor('c added', async () => (await hosts('outage-app:bolt')).includes(c.port), 40000)
  for (let i = 0; i < 20; i++) await consumer.invoke('echo', [i])
  t.is(await bridge.metric('isthmus_bridge_push_errors_total'), 0)
})

test('the admin API stopped and started (state kept, then state lost): the bridge retries with back-off, resyncs and catches up with its newest revision', async t => {
  const zk = await startZooKeeper(t)
  const adminPort = await freePort()
  const gw = await startBridgeGateway(t, { adminPort, statePath: true })
  const api = adminApi(adminPort, ADMIN_TOKEN)
  const s = await zkSession(t, zk.connect)
  const startTime = Date.now()
  const node = (app: string, iface: string, port: number): string => `/sofa-rpc/${iface}/providers/${javaProviderNode({ host: '127.0.0.1', port, iface, appName: app, startTime })}`
  const ifaceA = 'com.isthmus.admin.Alpha'
  const ifaceB = 'com.isthmus.admin.Beta'
  await s.mkdirp(`/sofa-rpc/${ifaceA}/providers`)
  await s.mkdirp(`/sofa-rpc/${ifaceB}/providers`)
  for (const p of [12401, 12402, 12403]) await s.ephemeral(node('alpha', ifaceA, p))
  await s.ephemeral(node('beta', ifaceB, 12411))
  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${adminPort}`, '--token-file', gw.tokenFile,
    '--service-prefix', 'com.isthmus.admin.', '--retry-max-ms', '400', '--verify-interval-ms', '0'])
  const ports = async (app: string): Promise<number[] | null> => {
    const r = await api('GET', `/v1/discovery/apps/${app}`)
    return r.status === 200 ? (r.body.instances as Array<{ port: number }>).map(i => i.port).sort() : null
  }
  await waitFor('both apps pushed', async () => (await ports('alpha'))?.length === 3 && (await ports('beta'))?.length === 1)
  const betaRev = (await api('GET', '/v1/discovery/apps/beta')).body.revision as number

  // 1. Gateway down, state file kept; alpha changes meanwhile.
  await gw.stop()
  await s.remove(node('alpha', ifaceA, 12402))
  await s.ephemeral(node('alpha', ifaceA, 12404))
  await waitFor('pushes fail while the admin is down', async () => await bridge.metric('isthmus_bridge_push_errors_total', { reason: 'unavailable' }) >= 2)
  await gw.restart()
  await waitFor('alpha caught up', async () => JSON.stringify(await ports('alpha')) === JSON.stringify([12401, 12403, 12404]), 30000)
  // The bridge settles (a push whose answer was lost to the restart is resynced) and the
  // admin holds its newest revision.
  const settled = async (): Promise<boolean> => {
    const st = await bridge.status()
    if (st.pending !== 0) return false
    for (const app of ['alpha', 'beta']) if ((await api('GET', `/v1/discovery/apps/${app}`)).body?.revision !== st.resources[`app/${app}`]?.revision) return false
    return true
  }
  await waitFor('bridge and admin agree on revisions', settled, 30000)
  const alpha = await api('GET', '/v1/discovery/apps/alpha')
  t.is((await api('GET', '/v1/discovery/apps/beta')).body.revision, betaRev, 'beta, unchanged and kept, was not pushed again')
  t.true(await bridge.metric('isthmus_bridge_resyncs_total', { reason: 'admin' }) >= 1)

  // 2. Gateway down and its state lost; beta changes meanwhile. The retry's resync finds the
  //    admin empty and pushes alpha too, though alpha did not change.
  await gw.stop()
  rmSync(join(gw.dir, 'state.json'), { force: true })
  rmSync(join(gw.dir, 'state.json.journal'), { force: true })
  await s.ephemeral(node('beta', ifaceB, 12412))
  const errors = await bridge.metric('isthmus_bridge_push_errors_total', { reason: 'unavailable' })
  await waitFor('pushes fail again', async () => await bridge.metric('isthmus_bridge_push_errors_total', { reason: 'unavailable' }) > errors)
  await gw.restart()
  await waitFor('both apps back', async () => JSON.stringify(await ports('alpha')) === JSON.stringify([12401, 12403, 12404]) && (await ports('beta'))?.length === 2, 30000)
  await waitFor('bridge and admin agree on revisions again', settled, 30000)
  const [a2, b2] = [await api('GET', '/v1/discovery/apps/alpha'), await api('GET', '/v1/discovery/apps/beta')]
  t.true(b2.body.revision > betaRev, 'revisions only grow')
  t.true(a2.body.revision > alpha.body.revision)

  // 3. State lost with nothing changing: only the periodic verify can notice.
  await bridge.stop()
  const verifying = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${adminPort}`, '--token-file', gw.tokenFile,
    '--service-prefix', 'com.isthmus.admin.', '--retry-max-ms', '400', '--verify-interval-ms', '500'])
  await waitFor('restarted bridge in sync', async () => (await fetch(`http://127.0.0.1:${verifying.port}/ready`)).status === 200)
  t.is(await verifying.metric('isthmus_bridge_pushes_total'), 0, 'a restarted bridge pushes nothing the admin already holds')
  await gw.stop()
  rmSync(join(gw.dir, 'state.json'), { force: true })
  rmSync(join(gw.dir, 'state.json.journal'), { force: true })
  await gw.restart()
  await waitFor('verify restores both apps', async () => (await ports('alpha'))?.length === 3 && (await ports('beta'))?.length === 2, 30000)
  t.true(await verifying.metric('isthmus_bridge_resyncs_total', { reason: 'verify' }) >= 1)
})

test('a 409 (someone wrote a newer revision) is resynced and retried, never skipped: the registry state wins with a still newer revision', async t => {
  const zk = await startZooKeeper(t)
  const gw = await startBridgeGateway(t)
  const api = adminApi(gw.admin, ADMIN_TOKEN)
  const s = await zkSession(t, zk.connect)
  const iface = 'com.isthmus.conflict.Gamma'
  const startTime = Date.now()
  const node = (port: number): string => `/sofa-rpc/${iface}/providers/${javaProviderNode({ host: '127.0.0.1', port, iface, appName: 'gamma', startTime })}`
  await s.mkdirp(`/sofa-rpc/${iface}/providers`)
  await s.ephemeral(node(12501))
  await s.ephemeral(node(12502))
  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile,
    '--service-prefix', 'com.isthmus.conflict.', '--retry-max-ms', '400', '--verify-interval-ms', '0'])
  const ports = async (): Promise<number[]> => ((await api('GET', '/v1/discovery/apps/gamma')).body?.instances as Array<{ port: number }> | undefined ?? []).map(i => i.port).sort()
  await waitFor('gamma pushed', async () => (await ports()).length === 2)
  // An operator overwrites the app with a far newer revision and other hosts.
  const theirs = 2 ** 52
  const w = await api('PUT', '/v1/discovery/apps/gamma', { revision: theirs, instances: [{ address: '127.0.0.1', port: 12599, protocols: ['bolt'] }], services: [{ name: iface }] })
  t.is(w.status, 200)
  // The registry changes: the bridge's incremental push meets a 409.
  await s.ephemeral(node(12503))
  await waitFor('the registry state restored', async () => JSON.stringify(await ports()) === JSON.stringify([12501, 12502, 12503]), 30000)
  const app = await api('GET', '/v1/discovery/apps/gamma')
  t.true(app.body.revision > theirs, `revision ${app.body.revision}`)
  t.true(await bridge.metric('isthmus_bridge_push_errors_total', { reason: 'conflict' }) >= 1)
  t.true(await bridge.metric('isthmus_bridge_resyncs_total', { reason: 'conflict' }) >= 1)
})
