/**
 * LDC routing end to end: grpc-js over Triple and sofa-rpc-node over Bolt, through the `ldc`
 * filter, to one upstream per zone (hosts carry their zone). RZone by the uid's shard, GZone,
 * CZone (city copy), the uid sources, a pinned zone and a missing uid.
 */
import test, { type ExecutionContext } from 'ava'

// sofa-rpc-node servers each add process listeners.
process.setMaxListeners(64)
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { startTestGateway } from '../_helpers/gateway.js'
import { tempDir } from '../_helpers/pki.js'
import { callBolt, callTriple, ldcClient, sofaClient, sofaConsumer, startZoneBolt, startZoneTriple, PKG, type LdcService, type ZonePeer } from '../_peers/zone-peers.js'

const ZONES = {
  RZ00: { type: 'rzone', city: 'hz' },
  RZ01: { type: 'rzone', city: 'hz' },
  RZ02: { type: 'rzone', city: 'sh' },
  GZ00: { type: 'gzone', city: 'hz' },
  CZHZ: { type: 'czone', city: 'hz' },
  CZSH: { type: 'czone', city: 'sh' },
} as const
const TABLE = [{ from: 0, to: 39, zone: 'RZ00' }, { from: 40, to: 69, zone: 'RZ01' }, { from: 70, to: 99, zone: 'RZ02' }]
const zoneOfShard = (s: number): string => TABLE.find(r => s >= r.from && s <= r.to)!.zone

const keys = (async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const tmp = tempDir('isthmus-ldc-')
  writeFileSync(join(tmp.dir, 'jwks.json'), JSON.stringify({ keys: [{ ...await exportJWK(publicKey), kid: 'k1', alg: 'RS256' }] }))
  return { privateKey, tmp }
})()
test.after.always(async () => { (await keys).tmp.remove() })

async function token (uid: string): Promise<string> {
  return await new SignJWT({ entity: 'bank', uid }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('alice')
    .setExpirationTime(Math.floor(Date.now() / 1000) + 300).sign((await keys).privateKey)
}

/** 100 uids, one per shard, with varied prefixes. */
function uids (): Array<{ uid: string, shard: number }> {
  const out: Array<{ uid: string, shard: number }> = []
  for (let s = 0; s < 100; s++) out.push({ uid: `2088${String(100000 + ((s * 7919) % 900000))}${String(s).padStart(2, '0')}`, shard: s })
  return out
}

async function setup (t: ExecutionContext) {
  const names = Object.keys(ZONES)
  const triple: ZonePeer[] = []
  const bolt: ZonePeer[] = []
  for (const z of names) {
    const a = await startZoneTriple(z); t.teardown(() => a.close()); triple.push(a)
    const b = await startZoneBolt(z); t.teardown(() => b.close()); bolt.push(b)
  }
  const gw = await startTestGateway(t, {
    entity: 'acme',
    listeners: { triple: { port: 0 }, bolt: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters: [
      { name: 'app-triple', protocol: 'triple', subsetFallback: { policy: 'none' }, hosts: triple.map(p => ({ address: '127.0.0.1', port: p.port, zone: p.name })) },
      { name: 'app-bolt', protocol: 'bolt', subsetFallback: { policy: 'none' }, hosts: bolt.map(p => ({ address: '127.0.0.1', port: p.port, zone: p.name })) },
    ],
    routes: [
      { name: 'triple', match: { protocol: 'triple', service: { prefix: `${PKG}.` } }, cluster: 'app-triple' },
      { name: 'bolt', match: { protocol: 'bolt', service: { prefix: `${PKG}.` } }, cluster: 'app-bolt' },
    ],
    filters: [
      { name: 'auth', config: { jwks: { file: 'jwks.json' }, optional: true } },
      { name: 'ldc' },
    ],
    ldc: {
      uid: { header: 'x-ldc-uid', boltKey: 'ldc_uid', jwtClaim: 'uid' },
      zones: ZONES,
      table: TABLE,
      services: { [`${PKG}.Account`]: 'rzone', [`${PKG}.Config`]: 'gzone', [`${PKG}.Rates`]: 'czone' },
      globalZone: 'GZ00',
      localZones: names,
      pin: { header: 'x-ldc-pin', boltKey: 'ldc_pin', allow: ['RZ02', 'CZSH'] },
    },
  }, (await keys).tmp.dir)
  const clients = new Map<LdcService, ReturnType<typeof ldcClient>>()
  const tripleCall = (svc: LdcService, md: Record<string, string> = {}) => {
    let c = clients.get(svc)
    if (c === undefined) { c = ldcClient(gw.addresses.triple!.port, svc); clients.set(svc, c); t.teardown(() => c!.close()) }
    return callTriple(c, md)
  }
  const sofa = sofaClient()
  t.teardown(() => sofa.close())
  const consumers = new Map<LdcService, Awaited<ReturnType<typeof sofaConsumer>>>()
  const boltCall = async (svc: LdcService, props: Record<string, unknown> = {}) => {
    let c = consumers.get(svc)
    if (c === undefined) { c = await sofaConsumer(sofa, gw.addresses.bolt!.port, svc); consumers.set(svc, c) }
    return await callBolt(c, props)
  }
  return { gw, triple, bolt, tripleCall, boltCall }
}

test('Triple (grpc-js): 100 uids covering every shard each reach the zone the table gives', async (t) => {
  const { tripleCall, triple } = await setup(t)
  for (const { uid, shard } of uids()) {
    const r = await tripleCall('Account', { 'x-ldc-uid': uid })
    t.is(r.servedBy, zoneOfShard(shard), `uid ${uid}`)
    t.is(r.headers['x-ldc-uid'], uid)
  }
  t.is(triple.reduce((n, p) => n + (p.calls.Account ?? 0), 0), 100)
})

test('Bolt (sofa-rpc-node): 100 uids covering every shard each reach the zone the table gives', async (t) => {
  const { boltCall, bolt } = await setup(t)
  for (const { uid, shard } of uids()) {
    const r = await boltCall('Account', { ldc_uid: uid })
    t.is(r.servedBy, zoneOfShard(shard), `uid ${uid}`)
    t.is(r.headers.ldc_uid, uid)
  }
  t.is(bolt.reduce((n, p) => n + (p.calls.Account ?? 0), 0), 100)
})

test('GZone services go to the global zone, CZone reads to the uid home city copy, on both protocols', async (t) => {
  const { tripleCall, boltCall } = await setup(t)
  t.is((await tripleCall('Config', { 'x-ldc-uid': '208800001' })).servedBy, 'GZ00')
  t.is((await tripleCall('Config')).servedBy, 'GZ00', 'a GZone call needs no uid')
  t.is((await boltCall('Config', { ldc_uid: '208800075' })).servedBy, 'GZ00')
  t.is((await tripleCall('Rates', { 'x-ldc-uid': '208800075' })).servedBy, 'CZSH', 'shard 75 is RZ02, in sh')
  t.is((await tripleCall('Rates', { 'x-ldc-uid': '208800045' })).servedBy, 'CZHZ', 'shard 45 is RZ01, in hz')
  t.is((await boltCall('Rates', { ldc_uid: '208800080' })).servedBy, 'CZSH')
  t.is((await boltCall('Rates', { ldc_uid: '208800010' })).servedBy, 'CZHZ')
})

test('uid from a JWT claim and from tri-unit-info; a pinned zone when allowed; a missing uid is refused clearly', async (t) => {
  const { tripleCall, boltCall } = await setup(t)
  // JWT claim (the token is verified by `auth`; no uid header).
  t.is((await tripleCall('Account', { authorization: `Bearer ${await token('208800042')}` })).servedBy, 'RZ01')
  t.is((await boltCall('Account', { authorization: `Bearer ${await token('208800071')}` })).servedBy, 'RZ02')
  // tri-unit-info (Triple).
  t.is((await tripleCall('Account', { 'tri-unit-info': JSON.stringify({ userid: '208800012' }) })).servedBy, 'RZ00')
  // The header wins over the claim and tri-unit-info.
  t.is((await tripleCall('Account', { 'x-ldc-uid': '208800090', 'tri-unit-info': JSON.stringify({ userid: '208800012' }) })).servedBy, 'RZ02')
  // Pinned zone: allowed, and refused.
  t.is((await tripleCall('Account', { 'x-ldc-uid': '208800012', 'x-ldc-pin': 'RZ02' })).servedBy, 'RZ02')
  t.is((await boltCall('Account', { ldc_uid: '208800012', ldc_pin: 'RZ02' })).servedBy, 'RZ02')
  const pin = await t.throwsAsync(tripleCall('Account', { 'x-ldc-uid': '208800012', 'x-ldc-pin': 'RZ01' })) as grpc.ServiceError
  t.is(pin.code, grpc.status.PERMISSION_DENIED)
  t.regex(pin.details, /^LDC zone pin refused/)
  // Missing and malformed uids.
  const missing = await t.throwsAsync(tripleCall('Account')) as grpc.ServiceError
  t.is(missing.code, grpc.status.INVALID_ARGUMENT)
  t.is(missing.details, 'no LDC routing uid: the service is routed by unit (rzone) and the call carries no uid')
  const bad = await t.throwsAsync(tripleCall('Account', { 'x-ldc-uid': 'alice' })) as grpc.ServiceError
  t.is(bad.code, grpc.status.INVALID_ARGUMENT)
  t.regex(bad.details, /^malformed LDC routing uid/)
  // Bolt: SERVER_EXCEPTION with the code's message (sofa-rpc-node surfaces it as the error).
  const boltMissing = await t.throwsAsync(boltCall('Account')) as Error
  t.regex(boltMissing.message, /no LDC routing uid/)
})
