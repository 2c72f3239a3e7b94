import test from 'ava'
import fc from 'fast-check'
import { formatTraceparent, isRpcId, isSofaTraceId, parseTraceparent, spanIdOfRpcId, w3cTraceIdOf } from '../../../filters/trace/ids.js'
import { baggageValue, withBaggagePairs } from '../../../filters/stress/baggage.js'

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

test('traceparent: version 00 parsed and written back; the sampled flag kept', t => {
  const sc = parseTraceparent(TP)!
  t.like(sc, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true })
  t.is(formatTraceparent(sc), TP)
  t.is(parseTraceparent(TP.slice(0, -2) + '00')!.traceFlags, 0)
})

test('traceparent: malformed, all-zero ids, upper case, version ff, 00 with extra fields are absent; a future version is read by its first 55', t => {
  for (const bad of [undefined, '', 'garbage', TP.toUpperCase(), TP + '-x', 'ff' + TP.slice(2),
    '00-00000000000000000000000000000000-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
    '00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g']) {
    t.is(parseTraceparent(bad), null, String(bad))
  }
  t.is(parseTraceparent('01' + TP.slice(2) + '-future')!.spanId, 'b7ad6b7169203331')
  t.is(parseTraceparent('01' + TP.slice(2) + 'x'), null)
})

test('SOFA trace id -> W3C: hex ids kept (left-padded), others hashed stably; never the invalid all-zero id', t => {
  t.is(w3cTraceIdOf('0a0fe8ec1534850834287100111234'), '000a0fe8ec1534850834287100111234')
  t.is(w3cTraceIdOf('0A0FE8EC1534850834287100111234'), '000a0fe8ec1534850834287100111234')
  t.is(w3cTraceIdOf('abc-def'), w3cTraceIdOf('abc-def'))
  t.regex(w3cTraceIdOf('abc-def'), /^[0-9a-f]{32}$/)
  t.not(w3cTraceIdOf('0'), '00000000000000000000000000000000')
  fc.assert(fc.property(fc.string({ maxLength: 64 }), s => /^[0-9a-f]{32}$/.test(w3cTraceIdOf(s)) && w3cTraceIdOf(s) !== '0'.repeat(32)))
  t.regex(spanIdOfRpcId('abc', '0.1'), /^[0-9a-f]{16}$/)
  t.not(spanIdOfRpcId('abc', '0.1'), spanIdOfRpcId('abc', '0.2'))
})

test('rpc ids and SOFA trace ids: only the forms SOFATracer writes, bounded', t => {
  for (const ok of ['0', '0.1', '0.1.22', '12.3']) t.true(isRpcId(ok), ok)
  for (const bad of ['', '.', '0.', '.1', '0..1', '0.a', '0 1', '1'.repeat(129)]) t.false(isRpcId(bad), bad)
  t.true(isSofaTraceId('0a0fe8ec1534850834287100111234'))
  for (const bad of ['', 'a b', 'a&b', 'a=b', 'a%b', 'a,b', 'é', 'x'.repeat(129)]) t.false(isSofaTraceId(bad), bad)
})

test('baggage helpers: read a pair of new_rpc_trace_context; rewrite pairs keeping the others in order', t => {
  const s = 'tcid=abc&spid=0.2&pspid=0&sample=true&mark=T&k=a%3Db&'
  t.is(baggageValue(s, 'tcid', 4096, 64), 'abc')
  t.is(baggageValue(s, 'spid', 4096, 64), '0.2')
  t.is(baggageValue(s, 'nope', 4096, 64), undefined)
  t.is(baggageValue(s, 'tcid', 10, 64), undefined) // over the byte bound
  t.is(baggageValue('tcid=x&%zz', 'tcid', 4096, 64), undefined) // malformed: nothing read
  t.is(withBaggagePairs(s, [['tcid', 'abc'], ['spid', '0.2.1'], ['pspid', '0.2']]), 'tcid=abc&spid=0.2.1&pspid=0.2&sample=true&mark=T&k=a%3Db&')
  t.is(withBaggagePairs('', [['tcid', 'a&b']]), 'tcid=a%26b&')
})
