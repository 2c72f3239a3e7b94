import test from 'ava'
import { FailureClass } from '../../../gateway/cluster/outlier.js'
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
  // No host carries version v9: "any" falls back to the whole cluster (round-robin over all four).
  const picked = new Set(Array.from({ length: 8 }, () => any.choose(call, 0)))
  t.deepEqual([...picked].sort((a, b) => a!.port - b!.port), any.hosts.slice().sort((a, b) => a.port - b.port), 'fallback any')
  const none = cluster('round-robin', 4, { subsetFallback: { policy: 'none' } }, labels)
  t.is(none.choose(call, 0), null)
  const def = cluster('round-robin', 4, { subsetFallback: { policy: 'default', defaultSubset: { version: 'v1' } } }, labels)
  for (let i = 0; i < 10; i++) t.true([def.hosts[0], def.hosts[1]].includes(def.choose(call, 0)!))
})

test('createLoadBalancer builds each policy: each picks only available candidates, with its own rule', (t) => {
  const c = cluster('round-robin', 3)
  const [a, b, down] = c.hosts
  down.healthy = false
  const candidates = [a, b, down]
  const pick = (p: LbPolicy, n: number, headers: Record<string, string> = {}): Array<string | undefined> => {
    const lb = createLoadBalancer(p, 'x-user')
    return Array.from({ length: n }, () => lb.pick(candidates, mk(headers), 0)?.id)
  }
  for (const p of ['round-robin', 'least-request', 'random', 'consistent-hash'] as const) {
    const ids = pick(p, 60, { 'x-user': 'u1' })
    t.false(ids.includes(down.id), `${p} skips the unhealthy host`)
    t.false(ids.includes(undefined), `${p} always finds an available host`)
  }
  t.deepEqual(pick('round-robin', 4).filter(id => id !== undefined).slice(0, 2).sort(), [a.id, b.id].sort(), 'round-robin alternates')
  t.is(new Set(pick('consistent-hash', 20, { 'x-user': 'u1' })).size, 1, 'consistent-hash: one key, one host')
  a.active = 50
  // P2C over two hosts picks the idle one 3/4 of the time: ~300 of 400 (fewer than 240 is ~1e-11).
  t.true(pick('least-request', 400).filter(id => id === b.id).length > 240, 'least-request favours the idle host')
  t.is(new Set(pick('random', 60)).size, 2, 'random reaches both available hosts')
  t.is(createLoadBalancer('round-robin').pick([down], mk(), 0), null, 'no available candidate: null')
})

test('passive health: consecutive failures eject a host for ejectMs', (t) => {
  const c = cluster('round-robin', 2, { outlier: { consecutiveFailures: 2, ejectMs: 1000 } })
  const h = c.hosts[0]
  c.health.failure(h, FailureClass.Connect, 0)
  t.true(h.isAvailable(0))
  c.health.failure(h, FailureClass.Connect, 0)
  t.false(h.isAvailable(500))
  t.true(h.isAvailable(1001))
})
