import test from 'ava'
import headers from '../../../filters/headers/index.js'
import { CONTINUE } from '../../../gateway/chain/filter-api.js'
import { ObjectHeaders } from '../../../gateway/call/headers.js'
import { compileFilter, makeCall } from '../../_helpers/compile-filter.js'

test('sets and removes request and response headers', (t) => {
  const { filter } = compileFilter(headers, { request: { set: { 'X-Entity': 'acme' }, remove: ['x-secret'] }, response: { set: { 'x-gw': '1' } } })
  const call = makeCall({ headers: { 'x-secret': 's', keep: 'k' } })
  t.is(filter.onRequest!(call), CONTINUE)
  t.deepEqual(call.headers.entries().sort(), [['keep', 'k'], ['x-entity', 'acme']])
  call.responseHeaders = new ObjectHeaders({})
  t.is(filter.onResponse!(call), CONTINUE)
  t.is(call.responseHeaders.get('x-gw'), '1')
})

test('hooks without work are not exposed (their chain phase stays empty)', (t) => {
  const { filter } = compileFilter(headers, { request: { set: { a: 'b' } } })
  t.truthy(filter.onRequest)
  t.is(filter.onResponse, undefined)
})

test('config: pseudo and framing headers are refused with the path; unknown keys too', (t) => {
  const e1 = t.throws(() => compileFilter(headers, { request: { set: { ':path': '/x' } } }))
  t.regex(e1!.message, /\/request\/set\/:path: header ":path" cannot be set/)
  const e2 = t.throws(() => compileFilter(headers, { request: { remove: ['te'] } }))
  t.regex(e2!.message, /\/request\/remove/)
  const e3 = t.throws(() => compileFilter(headers, { requset: {} }))
  t.regex(e3!.message, /\/config\/requset: is not a known key/)
})
