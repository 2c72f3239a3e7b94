import test from 'ava'
import deny from '../../../filters/deny/index.js'
import { CONTINUE, type LocalReply } from '../../../gateway/chain/filter-api.js'
import { compileFilter, makeCall } from '../../_helpers/compile-filter.js'

test('denies by service, method prefix and header; decision recorded; others continue', (t) => {
  const { filter } = compileFilter(deny, {
    rules: [
      { name: 'svc', service: 'a.Secret' },
      { name: 'internal', method: { prefix: 'Internal' }, message: 'not across the boundary' },
      { name: 'tenant', header: { name: 'x-tenant', value: 'evil' } },
    ],
  })
  const r1 = filter.onRequest!(makeCall({ service: 'a.Secret' })) as LocalReply
  t.is(r1.code, 'ISTH_ERR_FILTER_DENIED')
  t.is(r1.grpcStatus, 7)
  t.is(r1.boltStatus, 0x02)
  const c2 = makeCall({ method: 'InternalReset' })
  const r2 = filter.onRequest!(c2) as LocalReply
  t.is(r2.message, 'not across the boundary')
  t.deepEqual(c2.decisions, [{ filter: 'deny', action: 'deny', reason: 'rule internal' }])
  t.is((filter.onRequest!(makeCall({ headers: { 'x-tenant': 'evil' } })) as LocalReply).code, 'ISTH_ERR_FILTER_DENIED')
  t.is(filter.onRequest!(makeCall({ headers: { 'x-tenant': 'good' } })), CONTINUE)
  // The reply object is prebuilt: the same instance for every call the rule ends.
  t.is(filter.onRequest!(makeCall({ service: 'a.Secret' })), r1)
})

test('config: a rule matching everything is refused; rules are required', (t) => {
  t.regex(t.throws(() => compileFilter(deny, { rules: [{ name: 'all' }] }))!.message, /\/rules\/0: a rule needs/)
  t.regex(t.throws(() => compileFilter(deny, {}))!.message, /\/config\/rules: is required/)
})
