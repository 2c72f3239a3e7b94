/**
 * How the bridge authenticates to the admin API, with real processes (ZooKeeper, the gateway
 * and the bridges as compiled-CLI processes): an admin client certificate over TLS (admin
 * mTLS, `adminIdentities`), and a token file rotated while the bridge runs.
 */
import { copyFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'
import { adminApi, spawnBridge, waitFor } from './_bridge.js'
import { ADMIN_TOKEN, startBridgeGateway } from './_gateway.js'
import { freePort, javaProviderNode, startZooKeeper, zkSession } from './_zk.js'

test('admin mTLS: the bridge pushes with its client certificate over https; a certificate of another identity, or none, is refused and counted; a replaced certificate file is re-read', async t => {
  const pki = tempDir()
  t.teardown(pki.remove)
  const ca = await makeCa(pki.dir, 'ops')
  const server = await makeLeaf(pki.dir, ca, 'ops', { app: 'gateway-admin', server: true })
  const bridgeCert = await makeLeaf(pki.dir, ca, 'ops', { app: 'bridge', client: true })
  const intruder = await makeLeaf(pki.dir, ca, 'ops', { app: 'intruder', client: true })
  const zk = await startZooKeeper(t)
  const gw = await startBridgeGateway(t, { adminTls: { ...server, adminIdentities: ['ops/bridge'] } })
  // The test reads with the token (a client certificate is required on every connection).
  const api = adminApi(gw.admin, ADMIN_TOKEN, { ca: server.ca, cert: intruder.cert, key: intruder.key })
  const s = await zkSession(t, zk.connect)
  const startTime = Date.now()
  const node = (app: string, iface: string, port: number): string => `/sofa-rpc/${iface}/providers/${javaProviderNode({ host: '127.0.0.1', port, iface, appName: app, startTime })}`
  await s.mkdirp('/sofa-rpc/com.isthmus.tls.Ledger/providers')
  await s.mkdirp('/sofa-rpc/com.isthmus.other.Spy/providers')
  await s.ephemeral(node('ledger', 'com.isthmus.tls.Ledger', 12501))
  await s.ephemeral(node('ledger', 'com.isthmus.tls.Ledger', 12502))
  await s.ephemeral(node('spy', 'com.isthmus.other.Spy', 12509))
  const https = `https://127.0.0.1:${gw.admin}`

  // No token: the certificate alone authenticates the bridge.
  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', https, '--cert', bridgeCert.cert, '--key', bridgeCert.key, '--ca', server.ca,
    '--admin-servername', 'localhost', '--service-prefix', 'com.isthmus.tls.', '--retry-max-ms', '300'])
  const ports = async (app: string): Promise<number[] | null> => {
    const r = await api('GET', `/v1/discovery/apps/${app}`)
    return r.status === 200 ? (r.body.instances as Array<{ port: number }>).map(i => i.port).sort() : null
  }
  await waitFor('ledger pushed over mTLS', async () => (await ports('ledger'))?.length === 2)
  t.deepEqual((await api('GET', '/v1/clusters/ledger:bolt')).body.cluster.hosts.map((h: { port: number }) => h.port), [12501, 12502])
  // A change is pushed through the same client (an incremental host change).
  await s.remove(node('ledger', 'com.isthmus.tls.Ledger', 12502))
  await waitFor('removal pushed', async () => JSON.stringify(await ports('ledger')) === '[12501]')
  t.is(await bridge.metric('isthmus_bridge_pushes_total', { kind: 'patch' }), 1)
  t.is(await bridge.metric('isthmus_bridge_push_errors_total'), 0)

  // A certificate from the same CA whose identity is not in adminIdentities: 403, counted,
  // retried, and nothing of it reaches the gateway.
  // Its files are copies, replaced below.
  const spyCert = { cert: join(pki.dir, 'spy.crt'), key: join(pki.dir, 'spy.key') }
  copyFileSync(intruder.cert, spyCert.cert)
  copyFileSync(intruder.key, spyCert.key)
  const spy = await spawnBridge(t, ['--connect', zk.connect, '--admin', https, '--cert', spyCert.cert, '--key', spyCert.key, '--ca', server.ca,
    '--service-prefix', 'com.isthmus.other.', '--retry-max-ms', '300'])
  await waitFor('the refused bridge counts its errors', async () => await spy.metric('isthmus_bridge_push_errors_total', { reason: 'unauthorized' }) >= 2)
  t.false((await spy.status()).ready, 'a refused bridge never reports itself in sync')
  t.true(spy.logs.some(l => l.status === 403), 'it logs the refusal')
  // No client certificate at all: the TLS handshake is refused (the admin requires one).
  const anonymous = await spawnBridge(t, ['--connect', zk.connect, '--admin', https, '--ca', server.ca,
    '--service-prefix', 'com.isthmus.other.', '--retry-max-ms', '300'])
  await waitFor('the anonymous bridge counts its errors', async () => await anonymous.metric('isthmus_bridge_push_errors_total', { reason: 'unavailable' }) >= 2)
  t.is((await api('GET', '/v1/discovery/apps/spy')).status, 404)
  t.deepEqual((await api('GET', '/v1/discovery/apps')).body.apps.map((a: { name: string }) => a.name), ['ledger'])
  t.is(await bridge.metric('isthmus_bridge_push_errors_total'), 0, 'the others\' refusals cost the good bridge nothing')

  // The refused bridge's certificate files are replaced (as a renewal does) by a certificate
  // of an allowed identity: the next retry re-reads them and its pushes are accepted.
  for (const [from, to] of [[bridgeCert.key, spyCert.key], [bridgeCert.cert, spyCert.cert]]) {
    copyFileSync(from, to + '.new')
    renameSync(to + '.new', to)
  }
  await waitFor('the re-read certificate is accepted', async () => (await ports('spy'))?.length === 1)
  t.true(spy.logs.some(l => l.msg === 'admin client certificate files changed: new connections use them'))
})

test('token file rotation: after the gateway switches tokens the bridge is refused, re-reads its file on each retry, and catches up without a restart', async t => {
  const zk = await startZooKeeper(t)
  const adminPort = await freePort()
  const gw = await startBridgeGateway(t, { adminPort, statePath: true })
  const s = await zkSession(t, zk.connect)
  const iface = 'com.isthmus.rotate.Pay'
  const node = (port: number): string => `/sofa-rpc/${iface}/providers/${javaProviderNode({ host: '127.0.0.1', port, iface, appName: 'pay' })}`
  await s.mkdirp(`/sofa-rpc/${iface}/providers`)
  await s.ephemeral(node(12601))
  // The bridge's own copy of the token, so the test decides when it rotates.
  const dir = tempDir('isthmus-bridge-token-')
  t.teardown(dir.remove)
  const tokenFile = join(dir.dir, 'token')
  writeFileSync(tokenFile, ADMIN_TOKEN + '\n')
  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${adminPort}`, '--token-file', tokenFile,
    '--service-prefix', 'com.isthmus.rotate.', '--retry-max-ms', '300', '--verify-interval-ms', '0'])
  let api = adminApi(adminPort, ADMIN_TOKEN)
  const ports = async (): Promise<number[] | null> => {
    const r = await api('GET', '/v1/discovery/apps/pay')
    return r.status === 200 ? (r.body.instances as Array<{ port: number }>).map(i => i.port).sort() : null
  }
  await waitFor('pay pushed with the first token', async () => JSON.stringify(await ports()) === '[12601]')

  // The gateway restarts with a new token (its state file keeps pay); the registry changes.
  const next = 'rotated-token-2'
  await gw.stop()
  writeFileSync(gw.tokenFile, next + '\n')
  await gw.restart()
  api = adminApi(adminPort, next)
  t.is((await adminApi(adminPort, ADMIN_TOKEN)('GET', '/v1/discovery/apps')).status, 403, 'the old token is refused')
  await s.ephemeral(node(12602))
  // Refused while the bridge's file still has the old token: counted, retried, re-read each time.
  await waitFor('refusals counted', async () => await bridge.metric('isthmus_bridge_push_errors_total', { reason: 'unauthorized' }) >= 3)
  t.deepEqual(await ports(), [12601])
  // The new token lands in the file (as a secret update does): the next retry uses it.
  writeFileSync(tokenFile + '.new', next + '\n')
  renameSync(tokenFile + '.new', tokenFile)
  await waitFor('the change reaches the gateway with the new token', async () => JSON.stringify(await ports()) === '[12601,12602]')
  t.true(bridge.logs.some(l => l.msg === 'admin refused the token: read a new one from its file'))
  const errors = await bridge.metric('isthmus_bridge_push_errors_total', { reason: 'unauthorized' })
  // And it stays in sync: another change, no new refusal.
  await s.ephemeral(node(12603))
  await waitFor('a later change', async () => JSON.stringify(await ports()) === '[12601,12602,12603]')
  t.is(await bridge.metric('isthmus_bridge_push_errors_total', { reason: 'unauthorized' }), errors)
  t.is(bridge.child.exitCode, null, 'the bridge was never restarted')
})
