import test from 'ava'
import stress from '../../../filters/stress/index.js'
import { CONTINUE, type Filter } from '../../../gateway/chain/filter-api.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { compileFilter, makeCall } from '../../_helpers/compile-filter.js'
import { IsthmusError } from '../../../gateway/errors.js'

function filter (o: Record<string, unknown> = {}): Filter {
  return compileFilter(stress, o).filter
}

function run (f: Filter, protocol: 'triple' | 'bolt', headers: Record<string, string>) {
  const call = makeCall({ protocol, headers })
  const v = f.onRequest!(call)
  return { call, v, code: v instanceof LocalReply ? v.code : null, message: v instanceof LocalReply ? v.message : null }
}

test('each built-in source flags its protocol\'s calls and leaves the headers as they were', (t) => {
  const f = filter()
  const cases: Array<['triple' | 'bolt', Record<string, string>]> = [
    ['triple', { 'tri-trace-biz-baggage': 'scene=a&mark=T&' }],
    ['triple', { sofapenattrs: 'mark=T&' }],
    ['triple', { 'tri-traffic-type': 'pressure' }],
    ['bolt', { 'rpc_trace_context.sofaPenAttrs': 'mark=T&' }],
    ['bolt', { new_rpc_trace_context: 'tcid=1&spid=0&pspid=&sample=true&mark=T&' }],
  ]
  for (const [protocol, headers] of cases) {
    const { call, v } = run(f, protocol, headers)
    t.is(v, CONTINUE)
    t.true(call.stress, JSON.stringify(headers))
    t.deepEqual(Object.fromEntries(call.headers.entries()), headers)
  }
  t.false(run(f, 'bolt', { 'tri-traffic-type': 'pressure' }).call.stress, 'tri-traffic-type is a Triple header')
  t.false(run(f, 'triple', { 'tri-trace-biz-baggage': 'mark=F&' }).call.stress)
  t.false(run(f, 'triple', {}).call.stress)
})

test('configured keys: baggage or whole-value form, per protocol; a custom mark', (t) => {
  const f = filter({ keys: [{ name: 'x-load-test', form: 'value', value: 'yes' }, { name: 'PenAttrs', form: 'baggage', protocols: ['bolt'] }], mark: { key: 'pt', value: '1' } })
  t.true(run(f, 'triple', { 'x-load-test': 'yes' }).call.stress)
  t.true(run(f, 'bolt', { 'x-load-test': 'yes' }).call.stress)
  t.true(run(f, 'bolt', { PenAttrs: 'pt=1&' }).call.stress)
  t.false(run(f, 'bolt', { PenAttrs: 'mark=T&' }).call.stress)
  const off = makeCall({ headers: { 'tri-traffic-type': 'pressure' } })
  filter({ builtin: false }).onRequest!(off)
  t.false(off.stress, 'builtin: false reads only the configured keys')
  t.throws(() => filter({ keys: [{ name: 'X-Up', form: 'baggage' }] }), { instanceOf: IsthmusError, message: /lower-case/ })
  t.throws(() => filter({ keys: [{ name: 'x', form: 'value' }] }), { message: /needs the value/ })
})

test('the switch refuses stress calls only', (t) => {
  const f = filter({ refuse: true })
  const s = run(f, 'triple', { 'tri-traffic-type': 'pressure' })
  t.is(s.code, 'ISTH_ERR_STRESS_REFUSED')
  t.is(s.message, 'stress-test traffic refused: stress traffic is switched off at this gateway')
  t.is(run(f, 'triple', {}).v, CONTINUE)
  t.is(run(f, 'bolt', { 'rpc_trace_context.sofaPenAttrs': 'scene=x&' }).v, CONTINUE)
})

test('bad baggage is refused with its reason, on normal traffic too; non-strict ignores malformed but not oversize', (t) => {
  const f = filter({ limits: { maxBytes: 64, maxPairs: 4 } })
  t.is(run(f, 'bolt', { 'rpc_trace_context.sofaPenAttrs': 'a=b&'.repeat(20) }).message, 'bad trace baggage: baggage longer than 64 bytes')
  t.is(run(f, 'triple', { 'tri-trace-biz-baggage': 'a=b&'.repeat(5) }).message, 'bad trace baggage: baggage with more than 4 pairs')
  t.is(run(f, 'triple', { 'tri-trace-biz-baggage': 'junk' }).code, 'ISTH_ERR_STRESS_BAD_BAGGAGE')
  const lax = filter({ strict: false, limits: { maxBytes: 64, maxPairs: 4 } })
  const r = run(lax, 'triple', { 'tri-trace-biz-baggage': 'junk', 'tri-traffic-type': 'pressure' })
  t.is(r.v, CONTINUE)
  t.true(r.call.stress)
  t.is(run(lax, 'triple', { 'tri-trace-biz-baggage': 'x'.repeat(65) }).code, 'ISTH_ERR_STRESS_BAD_BAGGAGE')
})

test('shadow subset merges with the route subset; a shadow cluster the snapshot lacks fails closed', (t) => {
  const f = filter({ shadow: { subset: { shadow: 'true' } } })
  const a = run(f, 'triple', { 'tri-traffic-type': 'pressure' })
  t.deepEqual(a.call.subset, { shadow: 'true' })
  const call = makeCall({ headers: { 'tri-traffic-type': 'pressure' } })
  call.subset = Object.freeze({ version: 'v2' })
  f.onRequest!(call)
  t.deepEqual(call.subset, { version: 'v2', shadow: 'true' })
  t.is(run(f, 'triple', {}).call.subset, null, 'normal traffic keeps its subset')
  const c = filter({ shadow: { cluster: 'shadow-app' } })
  t.is(run(c, 'triple', { 'tri-traffic-type': 'pressure' }).message, 'stress-test traffic refused: shadow cluster shadow-app does not exist')
})
