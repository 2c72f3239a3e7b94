/** /v1/ldc: the section's semantic errors answer 400 with the body's JSON path; a good PUT swaps the table for new calls. */
import test from 'ava'
import { startTestGateway } from '../_helpers/gateway.js'
import { callTriple, ldcClient, startZoneTriple, PKG } from '../_peers/zone-peers.js'

test('PUT /v1/ldc: overlapping ranges, a bad zone type or an unknown gateway cluster -> 400 with the body path; a good table applies', async (t) => {
  const a = await startZoneTriple('RZ00')
  const b = await startZoneTriple('RZ01')
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const gw = await startTestGateway(t, {
    entity: 'acme',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters: [{ name: 'app', protocol: 'triple', subsetFallback: { policy: 'none' }, hosts: [{ address: '127.0.0.1', port: a.port, zone: 'RZ00' }, { address: '127.0.0.1', port: b.port, zone: 'RZ01' }] }],
    routes: [{ name: 'all', match: { service: { prefix: `${PKG}.` } }, cluster: 'app' }],
    filters: [{ name: 'ldc' }],
    ldc: { uid: { header: 'x-uid' }, table: [{ from: 0, to: 99, zone: 'RZ00' }], services: { [`${PKG}.Account`]: 'rzone' } },
  })
  const put = async (body: unknown): Promise<{ status: number, body: { code?: string, path?: string, message?: string } }> => {
    const r = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/v1/ldc`, { method: 'PUT', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const j = await r.json() as { error?: { code: string, path: string, message: string } }
    return { status: r.status, body: j.error ?? {} }
  }
  const base = { uid: { header: 'x-uid' }, services: { [`${PKG}.Account`]: 'rzone' } }
  const overlap = await put({ revision: 1, ...base, table: [{ from: 0, to: 60, zone: 'RZ00' }, { from: 50, to: 99, zone: 'RZ01' }] })
  t.is(overlap.status, 400)
  t.is(overlap.body.code, 'ISTH_ERR_CONFIG_INVALID')
  t.is(overlap.body.path, '/table/1')
  t.regex(String(overlap.body.message), /: \/table\/1: shard 50 is also in table row 0$/)
  const typed = await put({ revision: 1, ...base, zones: { RZ00: { type: 'gzone' } }, table: [{ from: 0, to: 99, zone: 'RZ00' }] })
  t.is(typed.status, 400)
  t.is(typed.body.path, '/table/0/zone')
  const cluster = await put({ revision: 1, ...base, zones: { RZ00: { type: 'rzone' }, RZ01: { type: 'rzone', gateway: { triple: 'nope' } } }, table: [{ from: 0, to: 99, zone: 'RZ00' }] })
  t.is(cluster.status, 400)
  t.is(cluster.body.path, '/zones/RZ01/gateway/triple')
  const client = ldcClient(gw.addresses.triple!.port, 'Account')
  t.teardown(() => client.close())
  t.is((await callTriple(client, { 'x-uid': '2088077' })).servedBy, 'RZ00', 'the rejected writes changed nothing')
  t.is((await put({ revision: 1, ...base, table: [{ from: 0, to: 49, zone: 'RZ00' }, { from: 50, to: 99, zone: 'RZ01' }] })).status, 200)
  t.is((await callTriple(client, { 'x-uid': '2088077' })).servedBy, 'RZ01')
  const got = await (await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/v1/ldc`, { headers: { authorization: 'Bearer tok' } })).json() as { revision: number, ldc: { table: unknown[] } }
  t.is(got.revision, 1)
  t.is(got.ldc.table.length, 2)
})
