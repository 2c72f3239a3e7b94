import test from 'ava'
import fc from 'fast-check'
import { canonical } from '../../../filters/audit/canonical.js'
import { callJson, compileHeaderRules } from '../../../filters/audit/record.js'
import { BoltHeaderView } from '../../../gateway/protocol/bolt/header-view.js'
import { Call } from '../../../gateway/call/call.js'
import { makeCall } from '../../_helpers/compile-filter.js'

const rules = compileHeaderRules(['x-tenant', 'Authorization', 'x-trace-*'], ['authorization', 'x-trace-secret'], 16)

test('the record is canonical JSON (sorted keys): what the writer builds is what verify recomputes, for any field values', t => {
  const text = fc.string({ unit: 'binary', maxLength: 40 })
  fc.assert(fc.property(text, text, text, text, text, fc.integer({ min: -1, max: 99 }), fc.boolean(), (svc, method, tenant, reason, principal, shard, stress) => {
    const call = makeCall({ service: svc, method, headers: { 'x-tenant': tenant, authorization: 'Bearer secret-token', 'x-trace-a': reason } })
    call.shard = shard
    call.stress = stress
    call.status = 0
    call.endedAt = call.startedAt + 1.25
    call.peer = { source: 'mtls', entity: 'acme', app: undefined, principal, claims: undefined }
    call.decide({ filter: 'policy', action: 'allow', reason })
    const json = callJson(call, rules)
    const parsed = JSON.parse(json) as Record<string, unknown>
    t.is(canonical(parsed), json)
  }), { numRuns: 300 })
})

test('fields: identity and how it was established, outcome, LDC, trace ids; headers only from the allow-list, redacted ones shown as such', t => {
  const call = makeCall({
    service: 'com.bank.Pay', method: 'transfer',
    headers: {
      'x-tenant': 't1', authorization: 'Bearer SECRET', 'x-other': 'not allowed', 'x-trace-b': 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'x-trace-secret': 's3cret',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'sofa-traceid': '0a0fe8ec1591233213001', 'sofa-rpcid': '0.1',
    },
  })
  call.identity = { source: 'jwt', entity: 'acme', app: 'pay', principal: 'acme-pay', claims: { sub: 'acme-pay' } }
  call.peer = { source: 'mtls', entity: 'acme', app: 'egress', principal: 'spiffe://isthmus.local/entity/acme/app/egress', claims: undefined }
  call.zone = 'GZ00A'
  call.shard = 42
  call.code = 'ISTH_ERR_AUTH_DENIED'
  call.status = 7
  call.bytesIn = 120
  call.endedAt = call.startedAt + 2.5
  const r = JSON.parse(callJson(call, rules)) as Record<string, any>
  t.deepEqual(r.caller, { app: 'pay', auth: 'jwt', entity: 'acme', principal: 'acme-pay' })
  t.is(r.peer, 'spiffe://isthmus.local/entity/acme/app/egress')
  t.deepEqual(r.headers, { authorization: '[redacted]', 'x-tenant': 't1', 'x-trace-b': 'bbbbbbbbbbbbbbbb…', 'x-trace-secret': '[redacted]' })
  t.deepEqual(r.trace, { id: '0af7651916cd43dd8448eb211c80319c', parent: 'b7ad6b7169203331', sofaRpcId: '0.1', sofaTraceId: '0a0fe8ec1591233213001', span: null })
  t.like(r, { svc: 'com.bank.Pay', method: 'transfer', zone: 'GZ00A', shard: 42, code: 'ISTH_ERR_AUTH_DENIED', status: 7, in: 120, ms: 2.5, mirrored: false, mirror: null, route: null, cluster: null, host: null, proto: 'triple' })
  t.false(JSON.stringify(r).includes('SECRET'))
  t.false(JSON.stringify(r).includes('s3cret'))
})

test('Bolt: SOFA trace ids from the header map, exact header names as sent', t => {
  const pairs: Array<[string, string]> = [['service', 'com.x.Echo:1.0'], ['rpc_trace_context.sofaTraceId', 'abc'], ['rpc_trace_context.sofaRpcId', '0.1.2'], ['x-tenant', 'b1']]
  const parts: Buffer[] = []
  for (const [k, v] of pairs) for (const s of [k, v]) { const b = Buffer.from(s); const l = Buffer.alloc(4); l.writeInt32BE(b.length); parts.push(l, b) }
  const buf = Buffer.concat(parts)
  const call = new Call('bolt', 'bolt', new BoltHeaderView(buf, 0, buf.length), '10.0.0.1')
  call.status = 0
  call.endedAt = call.startedAt
  const r = JSON.parse(callJson(call, compileHeaderRules(['x-tenant'], [], 64))) as Record<string, any>
  t.deepEqual(r.trace, { id: '', parent: '', sofaRpcId: '0.1.2', sofaTraceId: 'abc', span: null })
  t.deepEqual(r.headers, { 'x-tenant': 'b1' })
  t.is(r.caller, null)
  t.is(r.shard, -1)
})

test('caller-controlled strings are cut to a bound (a 64 KiB service name does not make a 64 KiB record)', t => {
  const call = makeCall({ service: 'x'.repeat(65536) })
  call.endedAt = call.startedAt
  t.true(callJson(call, rules).length < 4000)
})
