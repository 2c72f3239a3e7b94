import test from 'ava'
import traceFilter from '../../../filters/trace/index.js'
import { compileFilter, makeCall, testContext } from '../../_helpers/compile-filter.js'

test('options: defaults; unknown keys and out-of-bounds values refused with their path', t => {
  t.deepEqual(compileFilter(traceFilter, {}).config, { boltTraceparent: true, maxContextBytes: 4096, maxContextPairs: 64 })
  t.throws(() => compileFilter(traceFilter, { sampler: 'always' }), { message: /\/config/ })
  t.throws(() => compileFilter(traceFilter, { maxContextBytes: 1 << 20 }), { message: /maxContextBytes/ })
})

test('boltMethod declares that the config reads Bolt methods (and only then)', t => {
  let declared = 0
  const ctx = { ...testContext(), readsMethod: () => { declared++ } }
  compileFilter(traceFilter, {}, ctx)
  t.is(declared, 0)
  compileFilter(traceFilter, { boltMethod: true }, ctx)
  t.is(declared, 1)
})

test('no SDK: the hooks leave the call and its headers as they are', t => {
  const { filter } = compileFilter(traceFilter, {})
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  const call = makeCall({ service: 's', method: 'm', headers: { traceparent: tp } })
  filter.onRequest!(call)
  filter.onUpstream!(call)
  filter.onLog!(call)
  t.is(call.trace, null)
  t.deepEqual(call.headers.entries(), [['traceparent', tp]])
})
