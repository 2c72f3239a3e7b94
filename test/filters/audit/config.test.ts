import test from 'ava'
import pino from 'pino'
import { HostRegistry } from '../../../gateway/cluster/host.js'
import { compileSnapshot } from '../../../gateway/config/compile.js'
import { validateOptions } from '../../../gateway/config/load.js'
import { chainWithAudit } from '../../../gateway/config/audit.js'

const deps = { hosts: new HostRegistry(), logger: pino({ level: 'silent' }), baseDir: process.cwd(), nodeId: 'n1' }
const base = {
  entity: 'bank',
  listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: {} },
  clusters: [{ name: 'c', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: 1 }] }],
  routes: [{ name: 'r', match: { service: { prefix: '' } }, cluster: 'c' }],
}

test('the reserved {enabled, dir, queue} section still validates, with defaults for everything added', t => {
  const o = validateOptions({ ...base, audit: { enabled: true, dir: './a', queue: false } })
  t.like(o.audit, { enabled: true, dir: './a', queue: false, flushMs: 50, spool: { onFull: 'drop', maxBytes: 256 * 1024 * 1024, refuseEntities: [] }, checkpoint: { records: 1000, intervalMs: 10000 } })
  t.deepEqual(o.audit.headers.redact, ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'])
  t.throws(() => validateOptions({ ...base, audit: { enabled: true, bogus: 1 } }), { message: /\/audit\/bogus: is not a known key/ })
  t.throws(() => validateOptions({ ...base, audit: { spool: { onFull: 'block' } } }), { message: /\/audit\/spool\/onFull: must be one of "drop", "refuse"/ })
  t.throws(() => validateOptions({ ...base, audit: { export: { sinks: [{ type: 'http', url: 'ftp://x' }] } } }), { message: /\/audit\/export\/sinks\/0/ })
})

test('audit.enabled appends the audit filter last in both chains, with node and redis; off: no filter', async t => {
  const o = validateOptions({ ...base, filters: [{ name: 'headers', config: {} }], policies: { rules: [] }, audit: { enabled: true, dir: '/tmp/isthmus-audit-never-opened' } })
  const snap = await compileSnapshot(o, 1, deps)
  t.deepEqual(snap.chains.triple.entries.map(e => e.name), ['policy', 'headers', 'audit'])
  t.deepEqual(snap.chains.bolt.entries.map(e => e.name), ['policy', 'headers', 'audit'])
  for (const f of snap.filters) await f.close?.()
  const off = await compileSnapshot(validateOptions({ ...base, audit: { enabled: false } }), 1, deps)
  t.is(off.chains.triple.entries.length, 0)
  const chain = chainWithAudit(validateOptions({ ...base, audit: { enabled: true }, redis: { url: 'redis://127.0.0.1:1', passwordEnv: 'PW' } }), [], 'n7')
  t.like(chain[0].config, { node: 'n7', redis: { url: 'redis://127.0.0.1:1', keyPrefix: 'isthmus:', passwordEnv: 'PW' } })
})

test('an explicit audit entry takes the section as its base config and must be last', async t => {
  const o = validateOptions({ ...base, filters: [{ name: 'audit', config: { flushMs: 5 } }, { name: 'headers', config: {} }], audit: { enabled: true } })
  await t.throwsAsync(compileSnapshot(o, 1, deps), { message: /\/filters\/0: the audit filter must be the last entry/ })
  const ok = validateOptions({ ...base, filters: [{ name: 'headers', config: {} }, { name: 'audit', protocols: ['bolt'], config: { flushMs: 5 } }], audit: { dir: '/tmp/isthmus-audit-never-opened' } })
  const chain = chainWithAudit(ok, ok.filters, 'n1')
  t.like(chain[1].config, { flushMs: 5, dir: '/tmp/isthmus-audit-never-opened', node: 'n1' })
  const snap = await compileSnapshot(ok, 1, deps)
  t.deepEqual(snap.chains.triple.entries.map(e => e.name), ['headers'])
  t.deepEqual(snap.chains.bolt.entries.map(e => e.name), ['headers', 'audit'])
  for (const f of snap.filters) await f.close?.()
})

test('bad combinations fail at compile with their path: queue without redis, segments too big for the spool', async t => {
  await t.throwsAsync(compileSnapshot(validateOptions({ ...base, audit: { enabled: true, queue: true } }), 1, deps), { message: /\/audit\/queue: needs the top-level redis section/ })
  await t.throwsAsync(compileSnapshot(validateOptions({ ...base, redis: { url: 'redis://127.0.0.1:1' }, audit: { enabled: true, queue: true, spool: { maxBytes: 1 << 20 }, rotate: { maxBytes: 1 << 20 } } }), 1, deps), { message: /\/audit\/rotate\/maxBytes: must be at most half of spool\.maxBytes/ })
})

test('the only request-path hook is the refuse check, and only with spool policy refuse', async t => {
  const drop = await compileSnapshot(validateOptions({ ...base, audit: { enabled: true, dir: '/tmp/isthmus-audit-never-opened' } }), 1, deps)
  t.is(drop.chains.triple.beforeRoute, null)
  t.is(drop.chains.triple.log?.length, 1)
  const refuse = await compileSnapshot(validateOptions({ ...base, audit: { enabled: true, dir: '/tmp/isthmus-audit-never-opened', spool: { onFull: 'refuse' } } }), 1, deps)
  t.is(refuse.chains.triple.beforeRoute?.length, 1)
  for (const f of [...drop.filters, ...refuse.filters]) await f.close?.()
})
