/**
 * App-level push of Bolt instances through the admin API of a real gateway, called with
 * sofa-rpc-node: calls reach all three; after an incremental remove none goes there.
 */
import test from 'ava'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE, TEST_VERSION, type SofaPeer } from '../_peers/sofa-rpc.js'
import { startTestGateway } from '../_helpers/gateway.js'

const TOKEN = 'bolt-disc'

test('sofa-rpc-node calls reach the pushed instances; a removed host gets none, none fails', async t => {
  const peers: SofaPeer[] = []
  for (let i = 0; i < 3; i++) { const p = await startSofaServer(); t.teardown(() => p.close()); peers.push(p) }
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN } },
    drain: { timeoutMs: 1000 },
  })
  const api = async (method: string, path: string, body: unknown) => {
    const r = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: r.status, body: await r.json() as unknown }
  }
  const push = await api('PUT', '/v1/discovery/apps/sofa-app', {
    revision: 1,
    instances: peers.map(p => ({ address: '127.0.0.1', port: p.port, protocols: ['bolt'] })),
    services: [{ name: TEST_SERVICE, version: TEST_VERSION }],
  })
  t.is(push.status, 200, JSON.stringify(push.body))
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.addresses.bolt!.port)
  for (let i = 0; i < 30; i++) await c.invoke('note', [i])
  t.true(peers.every(p => p.onewayHits.length > 0), peers.map(p => p.onewayHits.length).join(','))

  const patch = await api('PATCH', '/v1/clusters/sofa-app:bolt/hosts', { revision: 2, remove: [`127.0.0.1:${peers[2].port}`] })
  t.is(patch.status, 200, JSON.stringify(patch.body))
  const before = peers[2].onewayHits.length
  let failures = 0
  await Promise.all(Array.from({ length: 4 }, async (_, k) => {
    for (let i = 0; i < 15; i++) await c.invoke('note', [k * 100 + i]).catch(() => { failures++ })
  }))
  t.is(failures, 0)
  t.is(peers[2].onewayHits.length, before)
  t.is(peers[0].onewayHits.length + peers[1].onewayHits.length, 90 - before)
})
