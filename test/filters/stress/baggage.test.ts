import test from 'ava'
import fc from 'fast-check'
import { BAD_ESCAPE, MALFORMED_PAIR, MARKED, NOT_MARKED, OVERSIZE, TOO_MANY_PAIRS, escapeBaggage, scanBaggage } from '../../../filters/stress/baggage.js'

const scan = (s: string, max = 4096, pairs = 64): number => scanBaggage(s, 'mark', 'T', max, pairs)

test('finds mark=T among pairs, with or without the trailing &', (t) => {
  t.is(scan('mark=T&'), MARKED)
  t.is(scan('mark=T'), MARKED)
  t.is(scan('scene=checkout&mark=T&uid=1&'), MARKED)
  t.is(scan('tcid=0a1b&spid=0.1&pspid=0&sample=true&_sys_mark=T&mark=T&'), MARKED, 'new_rpc_trace_context form')
  t.is(scan(''), NOT_MARKED)
  t.is(scan('&&'), NOT_MARKED)
  t.is(scan('mark=F&'), NOT_MARKED)
  t.is(scan('xmark=T&'), NOT_MARKED)
  t.is(scan('mark=TT&'), NOT_MARKED)
  t.is(scan('_sys_mark=T&'), NOT_MARKED, 'system baggage is not the biz mark')
  t.is(scan('note=mark%3DT&'), NOT_MARKED, 'an escaped = inside a value is data')
})

test('escaping of % = & is SOFATracer\'s and round-trips through the scanner', (t) => {
  t.is(escapeBaggage('a%b&c=d'), 'a%25b%26c%3Dd')
  t.is(scanBaggage('k%3Dx=v%26y&', 'k%3Dx', 'v%26y', 4096, 64), MARKED)
  fc.assert(fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 10 }), (m) => {
    const s = Object.entries(m).map(([k, v]) => `${escapeBaggage(k)}=${escapeBaggage(v)}&`).join('') + 'mark=T&'
    t.is(scanBaggage(s, 'mark', 'T', 1 << 16, 64), MARKED)
  }), { numRuns: 200 })
})

test('bounded and strict: oversize, too many pairs, malformed pairs and bad escapes', (t) => {
  t.is(scan('mark=T&' + 'a=b&'.repeat(1100)), OVERSIZE)
  t.is(scan('a=b&'.repeat(65)), TOO_MANY_PAIRS)
  t.is(scan('a=b&'.repeat(64)), NOT_MARKED)
  t.is(scan('mark&'), MALFORMED_PAIR, 'no =')
  t.is(scan('=T&'), MALFORMED_PAIR, 'empty key')
  t.is(scan('mark=T=T&'), MALFORMED_PAIR, 'two raw =')
  t.is(scan('a=%41&'), BAD_ESCAPE)
  t.is(scan('a=%2'), BAD_ESCAPE, 'truncated escape')
  t.is(scan('a=%3d&mark=T'), MARKED, 'lower-case hex is accepted')
})
