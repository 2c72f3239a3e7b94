import test from 'ava'
import pino from 'pino'
import { HostRegistry } from '../../../gateway/cluster/host.js'
import { compileSnapshot } from '../../../gateway/config/compile.js'
import { validateOptions } from '../../../gateway/config/load.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { runHooks } from '../../../gateway/chain/runner.js'
import { makeCall } from '../../_helpers/compile-filter.js'

const deps = { hosts: new HostRegistry(), logger: pino({ level: 'silent' }), baseDir: process.cwd(), nodeId: 't' }
const base = {
  entity: 'bank',
  listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: {} },
  clusters: [{ name: 'c', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: 1 }] }],
  routes: [{ name: 'r', match: { service: { prefix: '' } }, cluster: 'c' }],
}

test('the top-level policies section puts a policy filter in both chains (after auth)', async t => {
  const options = validateOptions({ ...base, filters: [{ name: 'headers', config: {} }], policies: { rules: [{ name: 'acme', action: 'allow', from: { entity: 'acme' } }] } })
  const snap = await compileSnapshot(options, 1, deps)
  t.deepEqual(snap.chains.triple.entries.map(e => e.name), ['policy', 'headers'])
  t.deepEqual(snap.chains.bolt.entries.map(e => e.name), ['policy', 'headers'])
  const call = makeCall()
  call.peer = { source: 'mtls', entity: 'other', app: undefined, principal: 'spiffe://isthmus.local/entity/other', claims: undefined }
  const r = runHooks(call, snap.chains.triple.beforeRoute!, 'onRequest', 0, () => {})
  t.true(r instanceof LocalReply)
  t.is((r as LocalReply).code, 'ISTH_ERR_AUTH_DENIED')
})

test('no policies section: no policy filter; a bad one fails with its path', async t => {
  const snap = await compileSnapshot(validateOptions({ ...base, filters: [] }), 1, deps)
  t.is(snap.chains.triple.entries.length, 0)
  const bad = validateOptions({ ...base, filters: [], policies: { rules: [{ name: 'a', action: 'allow' }, { name: 'a', action: 'deny' }] } })
  const err = await t.throwsAsync(compileSnapshot(bad, 1, deps))
  t.regex(err?.message ?? '', /\/policies\/rules\/1\/name/)
})
