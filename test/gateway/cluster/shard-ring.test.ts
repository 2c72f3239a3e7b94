import test from 'ava'
import { selectShard } from '../../../gateway/cluster/shard-ring.js'
import { buildCluster } from '../../../gateway/config/compile.js'
import { HostRegistry } from '../../../gateway/cluster/host.js'
import { validateOptions } from '../../../gateway/config/load.js'

const hosts = Array.from({ length: 200 }, (_, i) => ({ id: `10.1.${i >> 8}.${i & 255}:12200` }))
const replicas = Array.from({ length: 1000 }, (_, i) => `10.200.${i >> 8}.${i & 255}`)

test('1,000 replicas x 200 hosts at 50%: every host held by 0.9x-1.1x the mean', t => {
  const count = new Map<string, number>()
  for (const r of replicas) {
    const mine = selectShard(hosts, 50, r)
    t.is(mine.length, 100)
    for (const h of mine) count.set(h.id, (count.get(h.id) ?? 0) + 1)
  }
  const mean = (1000 * 100) / 200
  const counts = hosts.map(h => count.get(h.id) ?? 0)
  const min = Math.min(...counts); const max = Math.max(...counts)
  t.log(`min ${min} max ${max} mean ${mean}`)
  t.true(min >= 0.9 * mean && max <= 1.1 * mean)
})

test('removing one host changes at most ~2/N of each replica\'s assignments', t => {
  const without = hosts.filter((_, i) => i !== 57)
  let worst = 0
  for (const r of replicas) {
    const a = new Set(selectShard(hosts, 50, r).map(h => h.id))
    const b = new Set(selectShard(without, 50, r).map(h => h.id))
    let changed = 0
    for (const id of a) if (!b.has(id)) changed++
    for (const id of b) if (!a.has(id)) changed++
    worst = Math.max(worst, changed)
  }
  t.log(`worst change ${worst} of ${hosts.length}`)
  t.true(worst <= 2)
})

test('sharding applies to Triple clusters too', t => {
  const o = validateOptions({
    entity: 'e', trustDomain: 'd', listeners: { triple: {}, admin: {} },
    clusters: [{ name: 't', protocol: 'triple', shard: { percent: 25 }, hosts: hosts.slice(0, 40).map((h, i) => ({ address: `10.1.0.${i}`, port: 50051 })) }],
  })
  const c = buildCluster(o.clusters[0], { hosts: new HostRegistry(), nodeId: 'replica-a' })
  t.is(c.hosts.length, 10)
  t.is(c.totalHosts, 40)
})
