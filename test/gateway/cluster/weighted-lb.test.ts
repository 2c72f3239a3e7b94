/** Host weights steer round-robin, random and least-request (equal weights: unchanged behaviour). */
import test from 'ava'
import { Call } from '../../../gateway/call/call.js'
import { ObjectHeaders } from '../../../gateway/call/headers.js'
import { Cluster } from '../../../gateway/cluster/cluster.js'
import { HostRegistry } from '../../../gateway/cluster/host.js'
import { validateOptions } from '../../../gateway/config/load.js'
import type { LbPolicy } from '../../../gateway/config/options.js'

function cluster (policy: LbPolicy, weights: number[]): Cluster {
  const o = validateOptions({
    entity: 't',
    listeners: { triple: {}, admin: {} },
    clusters: [{ name: 'c', protocol: 'triple', lb: { policy }, hosts: weights.map((weight, i) => ({ address: '10.0.0.1', port: 1000 + i, weight })) }],
  })
  const reg = new HostRegistry()
  const c = o.clusters[0]
  return new Cluster(c, c.hosts.map(h => reg.intern(h)))
}

const call = new Call('triple', 'triple', new ObjectHeaders({}), '')

function shares (c: Cluster, picks: number): number[] {
  const n = new Map<string, number>()
  for (let i = 0; i < picks; i++) { const h = c.choose(call, 0)!; n.set(h.id, (n.get(h.id) ?? 0) + 1) }
  return c.hosts.map(h => (n.get(h.id) ?? 0) / picks)
}

for (const policy of ['round-robin', 'random', 'least-request'] as const) {
  test(`${policy}: calls follow the weights (10 : 100 : 290)`, t => {
    const s = shares(cluster(policy, [10, 100, 290]), 20000)
    t.true(Math.abs(s[0] - 0.025) < 0.01, `${s}`)
    t.true(Math.abs(s[1] - 0.25) < 0.03, `${s}`)
    t.true(Math.abs(s[2] - 0.725) < 0.03, `${s}`)
  })

  test(`${policy}: equal weights stay even; an unavailable heavy host gets nothing`, t => {
    const even = shares(cluster(policy, [100, 100, 100, 100]), 8000)
    for (const x of even) t.true(Math.abs(x - 0.25) < 0.04, `${even}`)
    const c = cluster(policy, [1, 1, 1000])
    c.hosts[2].healthy = false
    const s = shares(c, 2000)
    t.is(s[2], 0)
    t.is(s[0] + s[1], 1)
  })
}

test('round-robin with weights interleaves: any 40 consecutive picks of 1:3 are near 10:30', t => {
  const c = cluster('round-robin', [1, 3])
  const seq: number[] = Array.from({ length: 400 }, () => c.choose(call, 0) === c.hosts[0] ? 1 : 0)
  for (let i = 0; i + 40 <= seq.length; i += 40) {
    const light = seq.slice(i, i + 40).reduce((a, b) => a + b, 0)
    t.true(light >= 8 && light <= 12, `window ${i}: ${light}`)
  }
})

test('least-request with weights balances load per unit of weight', t => {
  const c = cluster('least-request', [100, 300])
  c.hosts[0].active = 10
  c.hosts[1].active = 10
  // Per unit of weight host 1 is three times less loaded: it wins every mixed pair.
  const s = shares(c, 4000)
  t.true(s[1] > 0.9, `${s}`)
})
