import test from 'ava'
import ldc from '../../../filters/ldc/index.js'
import { CONTINUE, type Filter, type PeerIdentity } from '../../../gateway/chain/filter-api.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { compileFilter, makeCall } from '../../_helpers/compile-filter.js'

const section = {
  uid: { header: 'x-uid', boltKey: 'ldc_uid', jwtClaim: 'uid' },
  localZones: ['RZ00', 'RZ01', 'RZ02', 'GZ00', 'CZHZ', 'CZSH'],
  zones: {
    RZ00: { type: 'rzone', city: 'hz' },
    RZ01: { type: 'rzone', city: 'sh' },
    RZ02: { type: 'rzone', city: 'sh' },
    GZ00: { type: 'gzone', city: 'hz' },
    CZHZ: { type: 'czone', city: 'hz' },
    CZSH: { type: 'czone', city: 'sh' },
  },
  table: [{ from: 0, to: 32, zone: 'RZ00' }, { from: 33, to: 65, zone: 'RZ01' }, { from: 66, to: 98, zone: 'RZ02' }],
  services: { Account: 'rzone', Config: 'gzone', Rates: 'czone' },
  globalZone: 'GZ00',
  pin: { header: 'x-ldc-pin', allow: ['RZ01', 'CZSH'] },
}

function filter (extra: Record<string, unknown> = {}): Filter {
  return compileFilter(ldc, { ...section, ...extra }).filter
}

function run (f: Filter, o: { service?: string, headers?: Record<string, string>, protocol?: 'triple' | 'bolt', claims?: Record<string, unknown>, subset?: Record<string, string> }) {
  const call = makeCall({ service: o.service ?? 'Account', headers: o.headers, protocol: o.protocol })
  if (o.claims !== undefined) call.identity = { source: 'jwt', entity: 'acme', app: undefined, principal: 'p', claims: o.claims } satisfies PeerIdentity
  if (o.subset !== undefined) call.subset = o.subset
  const v = f.onRequest!(call)
  return { v, call, code: v instanceof LocalReply ? v.code : null }
}

test('every shard 00-99 reaches the zone the table gives it; a table gap is a clear refusal', (t) => {
  const f = filter()
  for (let s = 0; s < 100; s++) {
    const uid = `2088${String(1000 + s * 7)}${String(s).padStart(2, '0')}`
    const { v, call, code } = run(f, { headers: { 'x-uid': uid } })
    const want = s <= 32 ? 'RZ00' : s <= 65 ? 'RZ01' : s <= 98 ? 'RZ02' : null
    if (want === null) { t.is(code, 'ISTH_ERR_LDC_NO_ZONE'); continue }
    t.is(v, CONTINUE)
    t.is(call.zone, want)
    t.is(call.shard, s)
    t.is(call.uid, uid)
    t.deepEqual(call.subset, { zone: want })
  }
})

test('uid sources in order: Triple header, Bolt key, JWT claim, tri-unit-info', (t) => {
  const f = filter()
  t.is(run(f, { headers: { 'x-uid': '100', 'tri-unit-info': '{"userid":"150"}' }, claims: { uid: '140' } }).call.shard, 0)
  t.is(run(f, { protocol: 'bolt', headers: { ldc_uid: '110', 'x-uid': '199' } }).call.shard, 10)
  t.is(run(f, { claims: { uid: 2088120 } }).call.shard, 20)
  t.is(run(f, { headers: { 'tri-unit-info': '{"userid":"2088135","zone":"RZ00"}' } }).call.shard, 35)
  t.is(run(f, { protocol: 'bolt', headers: { 'tri-unit-info': '{"userid":"2088135"}' } }).code, 'ISTH_ERR_LDC_UID_MISSING', 'tri-unit-info is a Triple header')
})

test('a configured digit window cuts the shard', (t) => {
  const f = filter({ shard: { digits: 2, offset: 3 } })
  const r = run(f, { headers: { 'x-uid': '2088' + '40' + 'xyz' } })
  t.is(r.call.shard, 40)
  t.is(r.call.zone, 'RZ01')
  t.is(run(f, { headers: { 'x-uid': '2088' + '4a' + 'xyz' } }).code, 'ISTH_ERR_LDC_UID_INVALID')
})

test('missing and malformed uids for an RZone service are refused, or go to the default zone', (t) => {
  const f = filter()
  t.is(run(f, {}).code, 'ISTH_ERR_LDC_UID_MISSING')
  t.is(run(f, { headers: { 'x-uid': '1' } }).code, 'ISTH_ERR_LDC_UID_INVALID')
  t.is(run(f, { headers: { 'x-uid': '12\u00e9' } }).code, 'ISTH_ERR_LDC_UID_INVALID')
  t.is(run(f, { headers: { 'x-uid': '9'.repeat(65) } }).code, 'ISTH_ERR_LDC_UID_INVALID')
  t.is(run(f, { headers: { 'tri-unit-info': '{not json' } }).code, 'ISTH_ERR_LDC_UID_MISSING')
  const d = filter({ defaultZone: 'RZ02' })
  t.is(run(d, {}).call.zone, 'RZ02')
  t.is(run(d, { headers: { 'x-uid': 'abc' } }).call.zone, 'RZ02')
})

test('GZone services go to the global zone; CZone reads to the uid home city copy, else this gateway\'s city', (t) => {
  const f = filter()
  t.is(run(f, { service: 'Config', headers: { 'x-uid': '150' } }).call.zone, 'GZ00')
  t.is(run(f, { service: 'Config' }).call.zone, 'GZ00', 'no uid needed')
  t.is(run(f, { service: 'Rates', headers: { 'x-uid': '140' } }).call.zone, 'CZSH', 'RZ01 is in sh')
  t.is(run(f, { service: 'Rates', headers: { 'x-uid': '105' } }).call.zone, 'CZHZ', 'RZ00 is in hz')
  t.is(run(f, { service: 'Rates' }).call.zone, 'CZHZ', 'the first local zone RZ00 is in hz')
})

test('a pinned zone is honoured only when allowed and of the service kind', (t) => {
  const f = filter()
  t.is(run(f, { headers: { 'x-uid': '105', 'x-ldc-pin': 'RZ01' } }).call.zone, 'RZ01')
  t.is(run(f, { headers: { 'tri-unit-info': '{"userid":"105","zone":"RZ01"}' } }).call.zone, 'RZ01')
  t.is(run(f, { headers: { 'tri-unit-info': '{"userid":"150","zone":"RZ02"}' } }).call.zone, 'RZ01', 'a tri-unit-info zone not allowed is ignored')
  t.is(run(f, { headers: { 'x-uid': '105', 'x-ldc-pin': 'RZ02' } }).code, 'ISTH_ERR_LDC_PIN_DENIED')
  t.is(run(f, { service: 'Rates', headers: { 'x-ldc-pin': 'RZ01' } }).code, 'ISTH_ERR_LDC_PIN_DENIED', 'an RZone pin for a CZone service')
  t.is(run(f, { service: 'Rates', headers: { 'x-ldc-pin': 'CZSH' } }).call.zone, 'CZSH')
})

test('services not in the table pass untouched; a route subset is merged with the zone', (t) => {
  const f = filter()
  const plain = run(f, { service: 'Other', headers: { 'x-uid': '105' } })
  t.is(plain.v, CONTINUE)
  t.is(plain.call.zone, '')
  t.is(plain.call.shard, -1)
  t.is(plain.call.subset, null)
  const sub = Object.freeze({ version: 'v2' })
  const a = run(f, { headers: { 'x-uid': '105' }, subset: sub })
  const b = run(f, { headers: { 'x-uid': '110' }, subset: sub })
  t.deepEqual(a.call.subset, { version: 'v2', zone: 'RZ00' })
  t.is(a.call.subset, b.call.subset, 'the merged selector is built once')
})

test('forwarded calls: a trusted hop\'s zone is honoured; a hop for a zone not served here is a loop', (t) => {
  const f = filter({ forward: { trust: ['peer-gw'] } })
  const trusted = makeCall({ service: 'Account', headers: { 'x-isthmus-ldc-hop': 'peer-gw', 'x-isthmus-ldc-zone': 'RZ01', 'x-isthmus-ldc-shard': '40', 'x-uid': '105' } })
  trusted.peer = { source: 'mtls', entity: 'peer-gw', app: undefined, principal: 'x', claims: undefined }
  t.is(f.onRequest!(trusted), CONTINUE)
  t.is(trusted.zone, 'RZ01')
  t.is(trusted.shard, 40)
  const untrusted = run(f, { headers: { 'x-isthmus-ldc-hop': 'someone', 'x-isthmus-ldc-zone': 'RZ01', 'x-uid': '105' } })
  t.is(untrusted.call.zone, 'RZ00', 'an untrusted caller does not pick the zone')
  const local = filter({ localZones: ['RZ00'] })
  t.is(run(local, { headers: { 'x-isthmus-ldc-hop': 'gw-a', 'x-uid': '150' } }).code, 'ISTH_ERR_LDC_LOOP')
  t.is(run(local, { headers: { 'x-uid': '150' } }).code, 'ISTH_ERR_LDC_NO_ZONE', 'not served here, no gateway configured')
})
