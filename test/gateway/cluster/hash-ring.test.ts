/**
 * The consistent-hash ring is built with the cluster (compile time), never on the call path
 * (issue 9 item 12), keeps the points of the old per-call ring (keys keep their hosts), is
 * spliced for a small host delta, reused across swaps, and shared by subsets.
 */
import test from 'ava'
import { Call } from '../../../gateway/call/call.js'
import { ObjectHeaders } from '../../../gateway/call/headers.js'
import { Cluster } from '../../../gateway/cluster/cluster.js'
import { fnv1a } from '../../../gateway/cluster/hash.js'
import { HashRing, ringStats } from '../../../gateway/cluster/hash-ring.js'
import { Host, HostRegistry } from '../../../gateway/cluster/host.js'
import { buildCluster } from '../../../gateway/config/compile.js'
import { validateOptions } from '../../../gateway/config/load.js'
import type { ClusterOptions, HostOptions } from '../../../gateway/config/options.js'

const mk = (key: string): Call => new Call('triple', 'triple', new ObjectHeaders({ 'x-user': key }), '')

function options (hosts: HostOptions[]): ClusterOptions {
  return validateOptions({
    entity: 't',
    listeners: { triple: {}, admin: {} },
    clusters: [{ name: 'c', protocol: 'triple', lb: { policy: 'consistent-hash', hashHeader: 'x-user' }, hosts }],
  }).clusters[0]
}
const hostsOf = (n: number, from = 0): HostOptions[] => Array.from({ length: n }, (_, i) => ({ address: `10.0.${(from + i) >> 8}.${(from + i) & 255}`, port: 7, labels: { cell: `c${(from + i) % 8}` }, weight: 1 + ((from + i) % 3) }))

/** The ring as pick() used to build it per call: pairs of (fnv1a(`${id}#${v}`), index), sorted. */
function referenceRing (hosts: readonly Host[]): { points: number[], owners: number[] } {
  const pairs: Array<[number, number]> = []
  hosts.forEach((h, idx) => { for (let v = 0; v < 64 * h.weight; v++) pairs.push([fnv1a(`${h.id}#${v}`), idx]) })
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  return { points: pairs.map(p => p[0]), owners: pairs.map(p => p[1]) }
}

function referencePick (hosts: readonly Host[], key: string): Host {
  const r = referenceRing(hosts)
  const h = fnv1a(key)
  let i = r.points.findIndex(p => p >= h)
  if (i < 0) i = 0
  return hosts[r.owners[i]]
}

test('the ring has the same points as the old per-call ring', (t) => {
  const reg = new HostRegistry()
  const hosts = Object.freeze(hostsOf(50).map(h => reg.intern(h)))
  const ring = HashRing.of(hosts)
  const ref = referenceRing(hosts)
  t.deepEqual([...ring.points], ref.points)
  t.deepEqual([...ring.owners], ref.owners)
})

test('built with the cluster: calls (subsets included) build no ring; a swap with the same hosts reuses it', (t) => {
  const reg = new HostRegistry()
  const before = { ...ringStats }
  const c = buildCluster(options(hostsOf(1000)), { hosts: reg, nodeId: 'n' })
  t.is(ringStats.built, before.built + 1)
  t.truthy(c.ring)
  const after = { ...ringStats }
  for (let i = 0; i < 3000; i++) {
    const call = mk(`user-${i}`)
    if (i % 3 === 1) call.subset = { cell: `c${i % 8}` }
    if (i % 3 === 2) call.subset = { cell: `c${i % 8}`, zone: '' } // a selector no host has: fallback (any)
    t.truthy(c.choose(call, 0))
  }
  t.deepEqual({ ...ringStats }, after, 'no ring built or spliced on the call path')
  // The next revision with these very hosts (an unrelated change): the same ring, not rebuilt.
  const o2 = { ...c.options, outlier: { ...c.options.outlier, ejectMs: 5 } }
  const c2 = buildCluster(o2, { hosts: reg, nodeId: 'n' }, c)
  t.not(c2, c)
  t.is(c2.ring, c.ring)
  t.deepEqual({ ...ringStats }, after)
  t.log(`1,000 hosts (weights 1-3): ${c.ring!.points.length} points`)
})

test('a subset pick is what a ring of the subset hosts would pick', (t) => {
  const reg = new HostRegistry()
  const c = buildCluster(options(hostsOf(200)), { hosts: reg, nodeId: 'n' })
  for (let i = 0; i < 300; i++) {
    const sel = { cell: `c${i % 8}` }
    const call = mk(`k${i}`)
    call.subset = sel
    const subset = c.subsets.select(sel)
    t.is(c.choose(call, 0), referencePick(subset, `k${i}`))
  }
})

test('a small host delta splices the ring: the same ring a fresh build gives, no full build', (t) => {
  const reg = new HostRegistry()
  const list = hostsOf(300)
  const c = buildCluster(options(list), { hosts: reg, nodeId: 'n' })
  const before = { ...ringStats }
  // Remove two hosts in the middle, add three new ones there.
  const next = [...list.slice(0, 100), ...hostsOf(3, 5000), ...list.slice(102)]
  const c2 = buildCluster(options(next), { hosts: reg, nodeId: 'n' }, c)
  t.is(ringStats.built, before.built)
  t.is(ringStats.spliced, before.spliced + 1)
  const ref = referenceRing(c2.hosts)
  t.deepEqual([...c2.ring!.points], ref.points)
  t.deepEqual([...c2.ring!.owners], ref.owners)
  // Keys of hosts that stayed mostly stay.
  let moved = 0
  for (let i = 0; i < 1000; i++) if (c.choose(mk(`u${i}`), 0)!.id !== c2.choose(mk(`u${i}`), 0)!.id) moved++
  t.true(moved < 100, `${moved} of 1000 keys moved`)
})

test('a host that is down is skipped, for the cluster and for a subset', (t) => {
  const reg = new HostRegistry()
  const c = new Cluster(options(hostsOf(20)), hostsOf(20).map(h => reg.intern(h)))
  const first = c.choose(mk('same'), 0)!
  first.healthy = false
  const second = c.choose(mk('same'), 0)!
  t.not(second, first)
  const call = mk('same')
  call.subset = { cell: first.labels.cell }
  const s = c.choose(call, 0)
  t.not(s, first)
  for (const h of c.hosts) h.healthy = false
  t.is(c.choose(mk('same'), 0), null)
})
