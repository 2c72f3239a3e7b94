/**
 * With many apps, one app's push must cost work proportional to that app: the other apps'
 * compiled clusters stay the same objects, and the checks that run on every swap (which
 * hosts no cluster holds any more, which hosts the health checker probes) must not walk
 * every cluster of the new snapshot. The walks are counted on a wrapper of the snapshot's
 * cluster map; the host counts that replace the walk must equal a recount.
 */
import test from 'ava'
import { resourceKey } from '../../admin/effective.js'
import type { AppPushOptions } from '../../admin/discovery/model.js'
import { HealthChecker } from '../../gateway/cluster/health-checker.js'
import type { Cluster } from '../../gateway/cluster/cluster.js'
import { droppedHosts } from '../../gateway/config/compile.js'
import { notedSplice, spliceOf } from '../../gateway/util/arrays.js'
import { countHostRefs } from '../../gateway/config/host-refs.js'
import type { Snapshot } from '../../gateway/config/snapshot.js'
import { baseOptions, openStore, silent } from '../_helpers/admin.js'

const APPS = 300

function app (a: number, first = `10.1.${a >> 8}.${a & 255}`): AppPushOptions {
  return {
    instances: [first, `10.2.${a >> 8}.${a & 255}`, `10.3.${a >> 8}.${a & 255}`].map(address => ({ address, port: 50051, protocols: ['triple', 'bolt'], ports: { bolt: 12200 } })),
    services: [{ name: `com.acme.app${a}.S0` }, { name: `com.acme.app${a}.S1` }],
  }
}

/** `s` whose cluster map counts the walks over all of it (lookups by name are free). */
function counted (s: Snapshot): { snap: Snapshot, walks: () => number } {
  let walks = 0
  const m = s.clusters
  const wrapped: ReadonlyMap<string, Cluster> = {
    get: k => m.get(k),
    has: k => m.has(k),
    get size () { return m.size },
    entries: () => { walks++; return m.entries() },
    keys: () => { walks++; return m.keys() },
    values: () => { walks++; return m.values() },
    forEach: (fn) => { walks++; m.forEach(fn) },
    [Symbol.iterator]: () => { walks++; return m.entries() },
  }
  return { snap: { ...s, clusters: wrapped }, walks: () => walks }
}

const refs = (m: ReadonlyMap<string, number>): Record<string, number> => Object.fromEntries([...m].sort(([a], [b]) => a < b ? -1 : 1))

test('one app of many: other apps keep their clusters; dropped hosts and health checks do not walk every cluster', async t => {
  const h = await openStore(baseOptions())
  const s = h.store
  let rev = 1
  for (let a = 0; a < APPS; a++) await s.write(resourceKey('app', `app${a}`), ++rev, () => app(a))
  // app1 also lists app0's first host: taking it out of app0 leaves it held.
  await s.write(resourceKey('app', 'app1'), ++rev, () => ({ ...app(1), instances: [...app(1).instances, app(0).instances[0]] }))
  const before = s.snapshot

  await s.write(resourceKey('app', 'app0'), ++rev, () => app(0, '10.9.9.9'))
  const mid = s.snapshot
  for (let a = 1; a < APPS; a++) {
    for (const p of ['triple', 'bolt']) t.is(mid.clusters.get(`app${a}:${p}`), before.clusters.get(`app${a}:${p}`))
  }
  t.not(mid.clusters.get('app0:triple'), before.clusters.get('app0:triple'))
  t.deepEqual(refs(mid.hostRefs), refs(countHostRefs(mid.clusters.values())))
  // The builder noted the one splice of each list, and it is the one a scan finds.
  for (const list of ['clusters', 'routes'] as const) {
    const noted = notedSplice<unknown>(before.options[list], mid.options[list])
    t.truthy(noted, list)
    t.deepEqual(noted, spliceOf<unknown>([...before.options[list]], mid.options[list]), list)
  }
  const m = counted(mid)
  t.deepEqual(droppedHosts(before, m.snap), [])
  new HealthChecker(silent).swap(before, m.snap)
  t.is(m.walks(), 0)

  // Now app1 lets go of it too: no cluster holds it.
  await s.write(resourceKey('app', 'app1'), ++rev, () => app(1))
  const after = s.snapshot
  t.deepEqual(refs(after.hostRefs), refs(countHostRefs(after.clusters.values())))
  const c = counted(after)
  t.deepEqual(droppedHosts(mid, c.snap).map(x => x.id).sort(), ['10.1.0.0:12200', '10.1.0.0:50051'])
  new HealthChecker(silent).swap(mid, c.snap)
  t.is(c.walks(), 0)
  t.deepEqual(h.dropped.at(-1)?.sort(), ['10.1.0.0:12200', '10.1.0.0:50051'])

  // Not compiled from it: the full walk, with the same answer.
  t.deepEqual(droppedHosts(before, c.snap).map(x => x.id).sort(), ['10.1.0.0:12200', '10.1.0.0:50051'])
  t.true(c.walks() > 0)
  await s.close()
})

test('host counts follow deletes, splices and full rebuilds', async t => {
  const h = await openStore(baseOptions())
  const s = h.store
  let rev = 1
  const check = (): void => { t.deepEqual(refs(s.snapshot.hostRefs), refs(countHostRefs(s.snapshot.clusters.values()))) }
  for (let a = 0; a < 20; a++) { await s.write(resourceKey('app', `app${a}`), ++rev, () => app(a % 7)); check() }
  await s.write(resourceKey('app', 'app3'), ++rev, () => null); check()
  await s.write(resourceKey('app', 'app4'), ++rev, () => ({ ...app(4), instances: app(4).instances.slice(1) })); check()
  await s.write(resourceKey('app', 'app5'), ++rev, () => ({ ...app(5), instances: Array.from({ length: 300 }, (_, i) => ({ address: `10.7.${i >> 8}.${i & 255}`, port: 1 })) })); check()
  await s.write(resourceKey('app', 'app5'), ++rev, () => ({ ...app(5), instances: Array.from({ length: 300 }, (_, i) => ({ address: `10.8.${i >> 8}.${i & 255}`, port: 1 })) })); check()
  await s.write(resourceKey('app', 'app6'), ++rev, () => null); check()
  await s.close()
})
