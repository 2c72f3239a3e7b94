/**
 * Wrong-unit forwarding through two gateways: gateway A serves RZ00; a call whose shard
 * belongs to RZ01 goes to RZ01's gateway cluster (gateway B) with the hop marker, zone and
 * shard; B honours them and routes to its RZ01 hosts. The loop guard: a B that does not serve
 * the zone either refuses the forwarded call instead of forwarding it back.
 */
import test, { type ExecutionContext } from 'ava'
import * as grpc from '@grpc/grpc-js'
import { startTestGateway } from '../_helpers/gateway.js'
import { callBolt, callTriple, ldcClient, sofaClient, sofaConsumer, startZoneBolt, startZoneTriple, PKG, type ZonePeer } from '../_peers/zone-peers.js'
import type { Gateway } from '../../gateway/lifecycle/start.js'

process.setMaxListeners(64)

const SERVICES = { [`${PKG}.Account`]: 'rzone' }
const TABLE = [{ from: 0, to: 49, zone: 'RZ00' }, { from: 50, to: 99, zone: 'RZ01' }]

interface Gw { gw: Gateway, triple: ZonePeer, bolt: ZonePeer }

/** A gateway of `entity` serving `local`, with its own zone's hosts and the other zone's gateway (if given). */
async function gateway (t: ExecutionContext, entity: string, local: string, zoneHosts: string, other: { zone: string, gw: Gateway } | null, table = TABLE): Promise<Gw> {
  const triple = await startZoneTriple(zoneHosts); t.teardown(() => triple.close())
  const bolt = await startZoneBolt(zoneHosts); t.teardown(() => bolt.close())
  const clusters: Array<Record<string, unknown>> = [
    { name: 'app-triple', protocol: 'triple', subsetFallback: { policy: 'none' }, hosts: [{ address: '127.0.0.1', port: triple.port, zone: zoneHosts }] },
    { name: 'app-bolt', protocol: 'bolt', subsetFallback: { policy: 'none' }, hosts: [{ address: '127.0.0.1', port: bolt.port, zone: zoneHosts }] },
  ]
  const zones: Record<string, unknown> = { [local]: { type: 'rzone' } }
  if (other !== null) {
    clusters.push({ name: 'peer-gw-triple', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: other.gw.addresses.triple!.port }] })
    clusters.push({ name: 'peer-gw-bolt', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: other.gw.addresses.bolt!.port }] })
    zones[other.zone] = { type: 'rzone', gateway: { triple: 'peer-gw-triple', bolt: 'peer-gw-bolt' } }
  }
  for (const row of table) if (zones[row.zone] === undefined) zones[row.zone] = { type: 'rzone' }
  const gw = await startTestGateway(t, {
    entity,
    listeners: { triple: { port: 0 }, bolt: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters,
    routes: [
      { name: 'triple', match: { protocol: 'triple', service: { prefix: `${PKG}.` } }, cluster: 'app-triple' },
      { name: 'bolt', match: { protocol: 'bolt', service: { prefix: `${PKG}.` } }, cluster: 'app-bolt' },
    ],
    filters: [{ name: 'ldc' }],
    ldc: {
      uid: { header: 'x-ldc-uid', boltKey: 'ldc_uid' },
      localZone: local,
      zones,
      table,
      services: SERVICES,
      // Plaintext test gateways carry no peer identity: trust any caller's forwarded zone.
      forward: { trust: ['*'] },
    },
  })
  return { gw, triple, bolt }
}

async function clientsOf (t: ExecutionContext, gw: Gateway) {
  const tc = ldcClient(gw.addresses.triple!.port, 'Account')
  t.teardown(() => tc.close())
  const sofa = sofaClient()
  t.teardown(() => sofa.close())
  const bc = await sofaConsumer(sofa, gw.addresses.bolt!.port, 'Account')
  return { triple: (uid: string) => callTriple(tc, { 'x-ldc-uid': uid }), bolt: (uid: string) => callBolt(bc, { ldc_uid: uid }) }
}

test('a call for a zone this gateway does not serve goes to that zone\'s gateway once, which routes it in its zone (Triple and Bolt)', async (t) => {
  const b = await gateway(t, 'gw-b', 'RZ01', 'RZ01', null)
  const a = await gateway(t, 'gw-a', 'RZ00', 'RZ00', { zone: 'RZ01', gw: b.gw })
  const call = await clientsOf(t, a.gw)

  const local = await call.triple('208800012')
  t.is(local.servedBy, 'RZ00')
  t.false('x-isthmus-ldc-hop' in local.headers, 'a local call carries no hop marker')

  for (const [proto, r] of [['triple', await call.triple('208800061')], ['bolt', await call.bolt('208800077')]] as const) {
    t.is(r.servedBy, 'RZ01', proto)
    t.is(r.headers['x-isthmus-ldc-hop'], 'gw-a', `${proto}: the hop marker names the first gateway`)
    t.is(r.headers['x-isthmus-ldc-zone'], 'RZ01')
    t.is(r.headers['x-isthmus-ldc-shard'], proto === 'triple' ? '61' : '77')
  }
  t.is(a.triple.calls.Account, 1)
  t.is(b.triple.calls.Account, 1)
  t.is(b.bolt.calls.Account, 1)
})

test('loop guard: a forwarded call that the second gateway does not serve either is refused there, never sent back', async (t) => {
  // B has a wrong table (every shard in RZ00) and sends RZ00 to gateway A: without the guard
  // a call would bounce between the two.
  const b = await gateway(t, 'gw-b', 'RZ02', 'RZ02', null, [{ from: 0, to: 99, zone: 'RZ00' }])
  const a = await gateway(t, 'gw-a', 'RZ00', 'RZ00', { zone: 'RZ01', gw: b.gw })
  const put = async (path: string, body: unknown): Promise<void> => {
    const r = await fetch(`http://127.0.0.1:${b.gw.addresses.admin.port}${path}`, { method: 'PUT', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: JSON.stringify(body) })
    t.is(r.status, 200, await r.text())
  }
  await put('/v1/clusters/gw-a-triple', { revision: 1, protocol: 'triple', hosts: [{ address: '127.0.0.1', port: a.gw.addresses.triple!.port }] })
  await put('/v1/clusters/gw-a-bolt', { revision: 1, protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: a.gw.addresses.bolt!.port }] })
  await put('/v1/ldc', {
    revision: 1,
    uid: { header: 'x-ldc-uid', boltKey: 'ldc_uid' },
    localZone: 'RZ02',
    zones: { RZ02: { type: 'rzone' }, RZ00: { type: 'rzone', gateway: { triple: 'gw-a-triple', bolt: 'gw-a-bolt' } } },
    table: [{ from: 0, to: 99, zone: 'RZ00' }],
    services: SERVICES,
    forward: { trust: ['*'] },
  })
  const call = await clientsOf(t, a.gw)
  const e = await t.throwsAsync(call.triple('208800061')) as grpc.ServiceError
  t.is(e.code, grpc.status.FAILED_PRECONDITION)
  t.is(e.details, 'LDC call was already forwarded by another gateway: its zone is not served here either; refusing to forward it twice')
  const be = await t.throwsAsync(call.bolt('208800070')) as Error
  t.regex(be.message, /LDC call was already forwarded by another gateway/)
  // No upstream saw either call: B refused at once.
  t.is(a.triple.calls.Account ?? 0, 0)
  t.is(b.triple.calls.Account ?? 0, 0)
  t.is(b.bolt.calls.Account ?? 0, 0)
  // Both gateways run in this process and share one registry: A refused nothing, B twice
  // (the other test of this file forwards but never loops).
  const metrics = await (await fetch(`http://127.0.0.1:${b.gw.addresses.admin.port}/metrics`)).text()
  t.regex(metrics, /isthmus_ldc_refused_total\{reason="loop"\} 2\n/)
})
