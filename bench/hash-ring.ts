/**
 * `npm run bench:ring`: the consistent-hash ring at 1,000 and 10,000 hosts. Before (issue 9
 * item 12) the ring was built inside pick() on the first call after every swap and for each
 * subset, with an array of pairs and a comparator sort; now it is built with the cluster at
 * compile time (packed float64 sort), spliced for a small delta, and subsets walk it.
 * Prints build, splice and pick times (medians of alternated rounds) and writes
 * bench/results/hash-ring-<ts>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { Call } from '../gateway/call/call.js'
import { ObjectHeaders } from '../gateway/call/headers.js'
import { fnv1a } from '../gateway/cluster/hash.js'
import { HashRing } from '../gateway/cluster/hash-ring.js'
import { HostRegistry, type Host } from '../gateway/cluster/host.js'
import { buildCluster } from '../gateway/config/compile.js'
import { validateOptions } from '../gateway/config/load.js'
import type { HostOptions } from '../gateway/config/options.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

/** The old builder, as pick() ran it on the call path. */
function oldRing (hosts: readonly Host[]): { points: Uint32Array, owners: Uint32Array } {
  const pairs: Array<[number, number]> = []
  hosts.forEach((h, idx) => { for (let v = 0; v < 64 * h.weight; v++) pairs.push([fnv1a(`${h.id}#${v}`), idx]) })
  pairs.sort((a, b) => a[0] - b[0])
  return { points: Uint32Array.from(pairs, p => p[0]), owners: Uint32Array.from(pairs, p => p[1]) }
}

const hostOptions = (n: number, from = 0): HostOptions[] => Array.from({ length: n }, (_, i) => ({ address: `10.${(from + i) >> 16 & 255}.${(from + i) >> 8 & 255}.${(from + i) & 255}`, port: 7, labels: { cell: `c${(from + i) % 16}` } }))
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const r3 = (x: number): number => Math.round(x * 1000) / 1000

const out: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, rounds: ROUNDS }
for (const n of [1000, 10000]) {
  const list = hostOptions(n)
  const cluster = validateOptions({ entity: 'b', listeners: { triple: {}, admin: {} }, clusters: [{ name: 'c', protocol: 'triple', lb: { policy: 'consistent-hash', hashHeader: 'x-user' }, hosts: list }] }).clusters[0]
  const times: Record<string, number[]> = { oldBuildMs: [], newBuildMs: [], spliceOneHostMs: [], pickUs: [], subsetPickUs: [] }
  for (let r = 0; r < ROUNDS; r++) {
    const reg = new HostRegistry()
    const hosts = Object.freeze(list.map(h => reg.intern(h)))
    let t0 = performance.now()
    oldRing(hosts)
    times.oldBuildMs.push(performance.now() - t0)
    t0 = performance.now()
    const c = buildCluster(cluster, { hosts: reg, nodeId: 'b' }) // builds the ring, as a compile does
    times.newBuildMs.push(performance.now() - t0)
    // One host removed, one added, in the middle: the spliced ring.
    const next = { ...cluster, hosts: [...list.slice(0, n >> 1), ...hostOptions(1, 900000), ...list.slice((n >> 1) + 1)] }
    t0 = performance.now()
    buildCluster(next, { hosts: reg, nodeId: 'b' }, c)
    times.spliceOneHostMs.push(performance.now() - t0)
    const calls = Array.from({ length: 20000 }, (_, i) => new Call('triple', 'triple', new ObjectHeaders({ 'x-user': `u${i}` }), ''))
    t0 = performance.now()
    for (const call of calls) c.choose(call, 0)
    times.pickUs.push((performance.now() - t0) * 1000 / calls.length)
    for (let i = 0; i < calls.length; i++) calls[i].subset = { cell: `c${i % 16}` }
    for (let i = 0; i < 16; i++) c.subsets.select({ cell: `c${i}` }) // the subsets themselves, as a first call computes them
    t0 = performance.now()
    for (const call of calls) c.choose(call, 0)
    times.subsetPickUs.push((performance.now() - t0) * 1000 / calls.length)
    if (r === 0 && HashRing.of(hosts).points.length !== oldRing(hosts).points.length) throw new Error('ring sizes differ')
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, r3(median(v))]))
  out[`hosts${n}`] = m
  process.stdout.write(`${n} hosts: old build (per call, before) ${m.oldBuildMs} ms; new build (compile time) ${m.newBuildMs} ms; one-host splice ${m.spliceOneHostMs} ms; pick ${m.pickUs} µs; subset (1/16) pick ${m.subsetPickUs} µs\n`)
}
mkdirSync('bench/results', { recursive: true })
const file = `bench/results/hash-ring-${(out.date as string).replace(/[:.]/g, '-')}.json`
writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
process.stdout.write(`wrote ${file}\n`)
