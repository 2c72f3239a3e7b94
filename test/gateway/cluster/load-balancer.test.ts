import test from 'ava'
import { Call } from '../../../gateway/call/call.js'
import { ObjectHeaders } from '../../../gateway/call/headers.js'
import { Cluster } from '../../../gateway/cluster/cluster.js'
import { HostRegistry } from '../../../gateway/cluster/host.js'
import { createLoadBalancer } from '../../../gateway/cluster/load-balancer.js'
import { validateOptions } from '../../../gateway/config/load.js'
import type { ClusterOptions, LbPolicy } from '../../../gateway/config/options.js'

function cluster (policy: LbPolicy, n: number, extra: Partial<ClusterOptions> = {}, labels: (i: number) => Record<string, string> = () => ({})): Cluster {
  const o = validateOptions({
    entity: 't',
    listeners: { triple: {}, admin: {} },
    clusters: [{ name: 'c', protocol: 'triple', lb: { policy, ...(policy === 'consistent-hash' ? { hashHeader: 'x-user' } : {}) }, hosts: Array.from({ length: n }, (_, i) => ({ address: '10.0.0.1', port: 1000 + i, labels: labels(i) })), ...extra }],
  })
  const reg = new HostRegistry()
  const c = o.clusters[0]
  return new Cluster(c, c.hosts.map(h => reg.intern(h)))
}

const mk = (headers: Record<string, string> = {}): Call => new Call('triple', 'triple', new ObjectHeaders(headers), '')

test('round-robin spreads evenly and skips an unavailable host', (t) => {
  const c = cluster('round-robin', 4)
  c.hosts[2].healthy = false
  const counts = new Map<string, number>()
  for (let i = 0; i < 300; i++) { const h = c.choose(mk(), 0)!; counts.set(h.id, (counts.get(h.id) ?? 0) + 1) }
  t.false(counts.has(c.hosts[2].id))
  for (const [, n] of counts) t.true(n >= 90 && n <= 110)
})

test('least-request prefers the less loaded of two choices', (t) => {
  const c = cluster('least-request', 2)
  c.hosts[0].active = 100
  let low = 0
  for (let i = 0; i < 200; i++) if (c.choose(mk(), 0) === c.hosts[1]) low++
  // Both picks land on host 0 a quarter of the time; otherwise host 1 wins.
  t.true(low > 120, String(low))
})

test('random never returns an ejected host; none available -> null', (t) => {
  const c = cluster('random', 3)
  c.hosts[0].ejectedUntil = 1e12
  for (let i = 0; i < 100; i++) t.not(c.choose(mk(), 0), c.hosts[0])
  for (const h of c.hosts) h.healthy = false
  t.is(c.choose(mk(), 0), null)
})

test('consistent hash: same key -> same host; a removed host moves only its keys', (t) => {
  const c = cluster('consistent-hash', 10)
  const before = new Map<string, string>()
  for (let i = 0; i < 500; i++) before.set(`u${i}`, c.choose(mk({ 'x-user': `u${i}` }), 0)!.id)
  for (let i = 0; i < 500; i++) t.is(c.choose(mk({ 'x-user': `u${i}` }), 0)!.id, before.get(`u${i}`) ?? "")
  const gone = c.hosts[3]
  gone.healthy = false
  let moved = 0
  for (let i = 0; i < 500; i++) {
    const now = c.choose(mk({ 'x-user': `u${i}` }), 0)!.id
    const was = before.get(`u${i}`) ?? ''
    if (now !== was) { moved++; t.is(was, gone.id) }
  }
  t.true(moved > 0 && moved < 120, String(moved))
})

test('subset by labels with fallback policies', (t) => {
  const labels = (i: number): Record<string, string> => ({ version: i < 2 ? 'v1' : 'v2', zone: i % 2 === 0 ? 'a' : 'b' })
  const any = cluster('round-robin', 4, {}, labels)
  const call = mk()
  call.subset = { version: 'v2', zone: 'b' }
  for (let i = 0; i < 10; i++) t.is(any.choose(call, 0), any.hosts[3])
  call.subset = { version: 'v9' }
  t.truthy(any.choose(call, 0), 'fallback any')
  const none = cluster('round-robin', 4, { subsetFallback: { policy: 'none' } }, labels)
  t.is(none.choose(call, 0), null)
  const def = cluster('round-robin', 4, { subsetFallback: { policy: 'default', defaultSubset: { version: 'v1' } } }, labels)
  for (let i = 0; i < 10; i++) t.true([def.hosts[0], def.hosts[1]].includes(def.choose(call, 0)!))
})

test('createLoadBalancer covers every policy', (t) => {
  for (const p of ['round-robin', 'least-request', 'random', 'consistent-hash'] as const) t.truthy(createLoadBalancer(p, 'x'))
})

test('passive health: consecutive failures eject a host for ejectMs', (t) => {
  const c = cluster('round-robin', 2, { outlier: { consecutiveFailures: 2, ejectMs: 1000 } })
  const h = c.hosts[0]
  h.recordFailure(c.options.outlier, 0)
  t.true(h.isAvailable(0))
  h.recordFailure(c.options.outlier, 0)
  t.false(h.isAvailable(500))
  t.true(h.isAvailable(1001))
})
