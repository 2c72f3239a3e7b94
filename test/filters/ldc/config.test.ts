import test from 'ava'
import ldc from '../../../filters/ldc/index.js'
import { validateOptions } from '../../../gateway/config/load.js'
import { IsthmusError } from '../../../gateway/errors.js'
import { compileFilter } from '../../_helpers/compile-filter.js'
import type { LdcConfig } from '../../../filters/ldc/config.js'

function gateway (ldcSection: Record<string, unknown>, clusters: Array<Record<string, unknown>> = []): unknown {
  return {
    entity: 'acme',
    listeners: { triple: {}, admin: {} },
    clusters: [{ name: 'app', protocol: 'triple' }, ...clusters],
    filters: [{ name: 'ldc' }],
    ldc: ldcSection,
  }
}

function rejects (t: import('ava').ExecutionContext, section: Record<string, unknown>, path: string, message: RegExp, clusters?: Array<Record<string, unknown>>): void {
  const err = t.throws(() => validateOptions(gateway(section, clusters))) as IsthmusError
  t.is(err.code, 'ISTH_ERR_CONFIG_INVALID')
  t.is(err.path, path, err.message)
  t.regex(err.message, message)
}

const full = {
  uid: { header: 'x-uid' },
  localZone: 'RZ00',
  zones: {
    RZ00: { type: 'rzone', city: 'hz' },
    RZ01: { type: 'rzone', city: 'sh', gateway: { triple: 'gw-rz01' } },
    GZ00: { type: 'gzone', city: 'hz' },
    CZHZ: { type: 'czone', city: 'hz' },
  },
  table: [{ from: 0, to: 49, zone: 'RZ00' }, { from: 50, to: 99, zone: 'RZ01' }],
  services: { 'com.a.Account': 'rzone', 'com.a.Config': 'gzone', 'com.a.Rates': 'czone' },
  globalZone: 'GZ00',
}

test('accepts the reserved minimal form (table only) and a full section with defaults filled', (t) => {
  const a = validateOptions(gateway({ table: [{ from: 0, to: 99, zone: 'gz01' }] }))
  t.deepEqual(a.ldc?.uid, { unitInfo: true, maxLength: 64 })
  t.deepEqual(a.ldc?.shard, { digits: 2, offset: 0 })
  const b = validateOptions(gateway(full, [{ name: 'gw-rz01', protocol: 'triple' }]))
  t.is(b.ldc?.forward?.hopHeader, 'x-isthmus-ldc-hop')
  t.is(b.ldc?.stamp, 'forward')
})

test('rejects overlapping ranges, ranges beyond the shard width, and accepts wider shards', (t) => {
  rejects(t, { table: [{ from: 0, to: 60, zone: 'A' }, { from: 50, to: 99, zone: 'B' }] }, '/ldc/table/1', /shard 50 is also in table row 0/)
  rejects(t, { table: [{ from: 0, to: 100, zone: 'A' }] }, '/ldc/table/0/to', /must be < 100/)
  rejects(t, { table: [{ from: 9, to: 3, zone: 'A' }] }, '/ldc/table/0/to', /must be >= from/)
  t.notThrows(() => validateOptions(gateway({ shard: { digits: 3 }, table: [{ from: 0, to: 999, zone: 'A' }] })))
})

test('rejects zone types that do not fit, unknown zones and missing global or city zones', (t) => {
  rejects(t, { ...full, table: [{ from: 0, to: 99, zone: 'GZ00' }] }, '/ldc/table/0/zone', /GZ00 is a gzone/, [{ name: 'gw-rz01', protocol: 'triple' }])
  rejects(t, { ...full, table: [{ from: 0, to: 99, zone: 'RZ09' }] }, '/ldc/table/0/zone', /not in ldc.zones/, [{ name: 'gw-rz01', protocol: 'triple' }])
  rejects(t, { table: [{ from: 0, to: 99, zone: 'A' }], services: { s: 'gzone' } }, '/ldc/globalZone', /is required/)
  rejects(t, { table: [{ from: 0, to: 99, zone: 'A' }], services: { s: 'czone' } }, '/ldc/zones', /no CZone/)
  rejects(t, { table: [{ from: 0, to: 99, zone: 'A' }], localZone: 'B' }, '/ldc/localZone', /unknown zone B/)
  rejects(t, { table: [{ from: 0, to: 99, zone: 'A' }], defaultZone: 'G', globalZone: 'G' }, '/ldc/defaultZone', /is a gzone, not a rzone/)
  rejects(t, { table: [{ from: 0, to: 99, zone: 'A' }], pin: { allow: ['Z'] } }, '/ldc/pin/allow/0', /unknown zone Z/)
})

test('rejects a zone gateway cluster that does not exist or speaks the other protocol', (t) => {
  rejects(t, full, '/ldc/zones/RZ01/gateway/triple', /unknown cluster "gw-rz01"/)
  rejects(t, full, '/ldc/zones/RZ01/gateway/triple', /speaks bolt/, [{ name: 'gw-rz01', protocol: 'bolt' }])
})

test('compiles a zone per shard, the city copies, and the local city', (t) => {
  const { config } = compileFilter(ldc, full) as { config: LdcConfig }
  t.is(config.byShard[0]?.name, 'RZ00')
  t.is(config.byShard[49]?.name, 'RZ00')
  t.is(config.byShard[50]?.name, 'RZ01')
  t.true(config.byShard[0]!.local)
  t.false(config.byShard[99]!.local)
  t.is(config.czoneByCity.get('hz')?.name, 'CZHZ')
  t.is(config.localCity, 'hz')
  t.is(config.shardText[7], '07')
  t.is(config.global?.name, 'GZ00')
})

test('a chain ldc entry without any section compiles inert', (t) => {
  const { config } = compileFilter(ldc, {}) as { config: LdcConfig }
  t.is(config.services.size, 0)
})
