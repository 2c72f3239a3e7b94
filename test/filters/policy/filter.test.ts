import test from 'ava'
import policy from '../../../filters/policy/index.js'
import { chainWithPolicies, policyFilterConfigFrom } from '../../../gateway/config/policies.js'
import { CONTINUE, type Call, type Decision, type Filter, type PeerIdentity } from '../../../gateway/chain/filter-api.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { BoltStatus, GrpcStatus } from '../../../gateway/errors.js'
import { CompiledChain } from '../../../gateway/chain/compiled-chain.js'
import { runHooks, runLogHooks, PENDING } from '../../../gateway/chain/runner.js'
import { compileFilter, makeCall, testContext } from '../../_helpers/compile-filter.js'
import type { PoliciesOptions } from '../../../gateway/config/options.js'

function peer (entity: string, app?: string): PeerIdentity {
  return { source: 'mtls', entity, app, principal: `spiffe://isthmus.local/entity/${entity}${app === undefined ? '' : `/app/${app}`}`, claims: undefined }
}

const policies: PoliciesOptions = {
  default: 'deny-foreign',
  rules: [
    { name: 'no-admin-from-acme', action: 'deny', from: { entity: 'acme' }, to: { service: 'com.bank.Admin*' } },
    { name: 'acme-payments', action: 'allow', from: { entity: 'acme' }, to: { service: 'com.bank.Payments' } },
    { name: 'auditors-read', action: 'allow', from: { claims: { role: 'auditor' } }, to: { method: { prefix: 'get' } } },
  ],
}

function bankPolicy (o: Partial<PoliciesOptions> & { shadow?: boolean } = {}): Filter {
  return compileFilter(policy, { ...policyFilterConfigFrom(policies), ...o }, testContext({ entity: 'bank' })).filter
}

function callFrom (id: PeerIdentity | null, service: string, method = 'pay', protocol: 'triple' | 'bolt' = 'triple'): Call {
  const c = makeCall({ service, method, protocol })
  c.peer = id
  return c
}

test('allow: a matching allow rule lets a foreign caller through, with its decision', t => {
  const f = bankPolicy()
  const c = callFrom(peer('acme', 'shop'), 'com.bank.Payments')
  t.is(f.onRequest!(c), CONTINUE)
  t.deepEqual(c.decisions, [{ filter: 'policy', action: 'allow', reason: 'rule acme-payments' }])
})

test('deny: the first matching rule wins; PERMISSION_DENIED on Triple, SERVER_EXCEPTION with the reason on Bolt', t => {
  const f = bankPolicy()
  for (const protocol of ['triple', 'bolt'] as const) {
    const c = callFrom(peer('acme'), 'com.bank.AdminService', 'pay', protocol)
    const v = f.onRequest!(c) as LocalReply
    t.true(v instanceof LocalReply)
    t.is(v.code, 'ISTH_ERR_AUTH_DENIED')
    t.is(v.grpcStatus, GrpcStatus.PERMISSION_DENIED)
    t.is(v.boltStatus, BoltStatus.SERVER_EXCEPTION)
    t.is(v.message, 'denied: policy rule no-admin-from-acme')
    t.deepEqual(c.decisions, [{ filter: 'policy', action: 'deny', reason: 'rule no-admin-from-acme' }])
  }
})

test('default deny-foreign: other entities and anonymous callers are denied, own entity allowed', t => {
  const f = bankPolicy()
  const foreign = callFrom(peer('other-co'), 'com.bank.Payments')
  const r = f.onRequest!(foreign) as LocalReply
  t.is(r.grpcStatus, GrpcStatus.PERMISSION_DENIED)
  t.regex(r.message, /caller is not entity bank .*deny-foreign/)
  t.deepEqual(foreign.decisions, [{ filter: 'policy', action: 'deny', reason: 'default deny-foreign: caller is not entity bank' }])

  const anon = callFrom(null, 'com.bank.Payments')
  t.regex((f.onRequest!(anon) as LocalReply).message, /no caller identity/)

  const own = callFrom(peer('bank', 'teller'), 'com.bank.Anything')
  t.is(f.onRequest!(own), CONTINUE)
  t.deepEqual(own.decisions, [{ filter: 'policy', action: 'allow', reason: 'default deny-foreign: caller is entity bank' }])
})

test('claims rules match a JWT identity; default allow/deny; shadow mode records but lets through', t => {
  const f = bankPolicy({ default: 'deny' })
  const c = callFrom(null, 'com.bank.Ledger', 'getBalance')
  c.identity = { source: 'jwt', entity: 'audit-firm', app: undefined, principal: 'alice', claims: { role: ['auditor', 'reader'] } }
  t.is(f.onRequest!(c), CONTINUE)
  t.is(c.decisions?.[0].reason, 'rule auditors-read')
  const write = callFrom(null, 'com.bank.Ledger', 'setBalance')
  write.identity = c.identity
  t.regex((f.onRequest!(write) as LocalReply).message, /default deny/)

  t.is(bankPolicy({ default: 'allow' }).onRequest!(callFrom(null, 'x.Y')), CONTINUE)
  const shadow = bankPolicy({ shadow: true })
  const s = callFrom(peer('other-co'), 'com.bank.Payments')
  t.is(shadow.onRequest!(s), CONTINUE)
  t.is(s.decisions?.[0].action, 'deny')
})

test('decisions are visible to an onLog (audit) hook after the chain ran', t => {
  const seen: Array<readonly Decision[] | null> = []
  const audit: Filter = { onLog: (call) => { seen.push(call.decisions === null ? null : [...call.decisions]) } }
  const chain = new CompiledChain([
    { name: 'policy', filter: bankPolicy(), phase: 'beforeRoute' },
    { name: 'audit', filter: audit, phase: 'beforeRoute' },
  ])
  const denied = callFrom(peer('other-co'), 'com.bank.Payments')
  const r = runHooks(denied, chain.beforeRoute!, 'onRequest', 0, () => {})
  t.not(r, PENDING)
  t.true(r instanceof LocalReply)
  runLogHooks(denied, chain.log!)
  const allowed = callFrom(peer('acme'), 'com.bank.Payments')
  t.is(runHooks(allowed, chain.beforeRoute!, 'onRequest', 0, () => {}), CONTINUE)
  runLogHooks(allowed, chain.log!)
  t.deepEqual(seen, [
    [{ filter: 'policy', action: 'deny', reason: 'default deny-foreign: caller is not entity bank' }],
    [{ filter: 'policy', action: 'allow', reason: 'rule acme-payments' }],
  ])
})

test('config: duplicate rule names rejected; chainWithPolicies places policy after auth', t => {
  const err = t.throws(() => compileFilter(policy, { rules: [{ name: 'a', action: 'allow' }, { name: 'a', action: 'deny' }] }))
  t.is((err as { code?: string }).code, 'ISTH_ERR_CONFIG_INVALID')
  t.throws(() => compileFilter(policy, { rules: [{ name: 'a', action: 'maybe' }] }), { message: /action/ })
  const chain = chainWithPolicies({ policies, filters: [{ name: 'headers' }, { name: 'auth', config: {} }, { name: 'deny', config: { rules: [] } }] })
  t.deepEqual(chain.map(f => f.name), ['headers', 'auth', 'policy', 'deny'])
  t.deepEqual((chain[2].config as { rules: unknown[] }).rules.length, 3)
  const explicit = chainWithPolicies({ policies, filters: [{ name: 'policy', config: { shadow: true } }] })
  t.is(explicit.length, 1)
  t.like(explicit[0].config, { shadow: true, default: 'deny-foreign' })
  t.is(chainWithPolicies({ filters: [] }).length, 0)
})
