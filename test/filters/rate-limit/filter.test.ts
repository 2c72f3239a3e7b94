import test from 'ava'
import rateLimit from '../../../filters/rate-limit/index.js'
import { CONTINUE, type Call, type Filter, type PeerIdentity } from '../../../gateway/chain/filter-api.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { BoltStatus, GrpcStatus } from '../../../gateway/errors.js'
import { compileFilter, makeCall } from '../../_helpers/compile-filter.js'

function filter (o: unknown): Filter { return compileFilter(rateLimit, o).filter }

function at (ms: number, o: Parameters<typeof makeCall>[0] & { app?: string, route?: string } = {}): Call {
  const c = makeCall(o)
  Object.assign(c, { startedAt: ms })
  if (o.app !== undefined) c.peer = { source: 'mtls', entity: 'acme', app: o.app, principal: 'p', claims: undefined } satisfies PeerIdentity
  if (o.route !== undefined) c.route = { name: o.route } as Call['route']
  return c
}

const limited = (v: unknown): boolean => v instanceof LocalReply && v.code === 'ISTH_ERR_RATE_LIMITED'

test('QPS: a token bucket of rate and burst, refilled by the calls\' own start times', (t) => {
  const f = filter({ rules: [{ name: 'q', qps: { rate: 10, burst: 5 } }] })
  const base = 1_000_000
  let ok = 0
  for (let i = 0; i < 20; i++) if (f.onRequest!(at(base)) === CONTINUE) ok++
  t.is(ok, 5, 'the burst')
  t.true(limited(f.onRequest!(at(base + 50))), 'half a token')
  t.is(f.onRequest!(at(base + 110)), CONTINUE, 'one token after 100 ms')
  ok = 0
  // 2 s at 100 calls/s offered: 10/s admitted.
  for (let ms = 200; ms < 2200; ms += 10) if (f.onRequest!(at(base + ms)) === CONTINUE) ok++
  t.true(ok >= 19 && ok <= 21, String(ok))
})

test('limited replies map to RESOURCE_EXHAUSTED and SERVER_THREADPOOL_BUSY with ISTH_ERR_RATE_LIMITED', (t) => {
  const f = filter({ rules: [{ name: 'q', qps: { rate: 1, burst: 1 } }] })
  f.onRequest!(at(5))
  const r = f.onRequest!(at(5)) as LocalReply
  t.is(r.code, 'ISTH_ERR_RATE_LIMITED')
  t.is(r.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED)
  t.is(r.boltStatus, BoltStatus.SERVER_THREADPOOL_BUSY)
  t.is(r.message, 'rate limited: rule q: over 1 calls per second')
})

test('concurrency: exact, released when an admitted call ends, never by a call it refused', (t) => {
  const f = filter({ rules: [{ name: 'c', concurrency: 2 }] })
  const a = at(1); const b = at(1); const c = at(1)
  t.is(f.onRequest!(a), CONTINUE)
  t.is(f.onRequest!(b), CONTINUE)
  t.true(limited(f.onRequest!(c)))
  f.onLog!(c) // refused: holds nothing
  t.true(limited(f.onRequest!(at(1))))
  f.onLog!(a)
  const d = at(1)
  t.is(f.onRequest!(d), CONTINUE)
  t.true(limited(f.onRequest!(at(1))), 'b and d hold the two slots')
  const never = at(1)
  f.onLog!(never) // a call that never reached the filter
  t.true(limited(f.onRequest!(at(1))))
})

test('matches on service, method, caller entity/app and route; a call without the field never matches', (t) => {
  const f = filter({ rules: [{ name: 'm', match: { service: 'com.a.Pay', method: { prefix: 'get' }, app: 'shop', route: 'r1' }, qps: { rate: 1, burst: 1 } }] })
  const hit = (o: Parameters<typeof at>[1]): unknown => f.onRequest!(at(1, { service: 'com.a.Pay', method: 'getX', app: 'shop', route: 'r1', ...o }))
  t.is(hit({}), CONTINUE)
  t.true(limited(hit({})))
  t.is(hit({ method: 'put' }), CONTINUE)
  t.is(hit({ method: '' }), CONTINUE, 'no method (sofa-rpc-node hessian): the method rule does not apply')
  t.is(hit({ app: 'other' }), CONTINUE)
  t.is(hit({ route: 'r2' }), CONTINUE)
  t.is(hit({ service: 'com.a.Other' }), CONTINUE)
  const noCaller = at(1, { service: 'com.a.Pay', method: 'getX', route: 'r1' })
  t.is(f.onRequest!(noCaller), CONTINUE)
})

test('by: a bucket per caller app; past maxKeys new values share one overflow bucket', (t) => {
  const f = filter({ maxKeys: 2, rules: [{ name: 'per-app', by: ['app'], qps: { rate: 1, burst: 1 } }] })
  t.is(f.onRequest!(at(1, { app: 'a' })), CONTINUE)
  t.true(limited(f.onRequest!(at(1, { app: 'a' }))))
  t.is(f.onRequest!(at(1, { app: 'b' })), CONTINUE)
  t.is(f.onRequest!(at(1, { app: 'c' })), CONTINUE, 'the overflow bucket')
  t.true(limited(f.onRequest!(at(1, { app: 'd' }))), 'shares the overflow bucket')
})

test('shadow rules count but refuse nothing', (t) => {
  const f = filter({ rules: [{ name: 's', qps: { rate: 1, burst: 1 }, concurrency: 1, shadow: true }] })
  for (let i = 0; i < 5; i++) t.is(f.onRequest!(at(1)), CONTINUE)
})
