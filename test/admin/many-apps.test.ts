/**
 * Pushes cost what changed (issue 9 item 13: after 2,000 apps each push took ~227 ms). The work
 * of one app's push is counted, not timed: assemblies, full builds, clusters built, routes
 * compiled and indexed, services touched; it must be the same with 20 apps as with 400. And
 * the incremental path must give what a fresh build gives, for any sequence of changes over
 * several apps.
 */
import test from 'ava'
import fc from 'fast-check'
import { buildEffective, resourceKey } from '../../admin/effective.js'
import type { AppPushOptions } from '../../admin/discovery/model.js'
import { Cluster } from '../../gateway/cluster/cluster.js'
import { HostRegistry } from '../../gateway/cluster/host.js'
import { compileSnapshot } from '../../gateway/config/compile.js'
import type { Snapshot } from '../../gateway/config/snapshot.js'
import { baseOptions, openStore, silent } from '../_helpers/admin.js'
import { Call } from '../../gateway/call/call.js'
import { ObjectHeaders } from '../../gateway/call/headers.js'

function app (a: number, variant = 0): AppPushOptions {
  return {
    instances: Array.from({ length: 3 }, (_, i) => ({ address: `10.${a >> 8}.${a & 255}.${i + variant}`, port: 50051, protocols: ['triple', 'bolt'] as Array<'triple' | 'bolt'>, ports: { bolt: 12200 } })),
    // Odd variants also export a service other apps export too: which app answers it then
    // depends on the order of the discovered routes (first app by name).
    services: [...Array.from({ length: 4 }, (_, s) => ({ name: `com.acme.app${a}.Svc${s}` })), ...(variant % 2 === 1 ? [{ name: 'shared.Common' }] : [])],
  }
}

/** A probe of what a Cluster build creates: ids are process-unique and increasing. */
function clustersBuiltSince (before: number): number { return new Cluster({ name: 'probe', protocol: 'triple', hosts: [], lb: { policy: 'round-robin' }, subsetFallback: { policy: 'any' } } as never, []).id - before - 1 }
function clusterMark (): number { return new Cluster({ name: 'probe', protocol: 'triple', hosts: [], lb: { policy: 'round-robin' }, subsetFallback: { policy: 'any' } } as never, []).id }

async function pushWork (apps: number): Promise<Record<string, number>> {
  const h = await openStore(baseOptions({ clusters: [{ name: 'static', protocol: 'triple', hosts: [{ address: '10.9.9.9', port: 1 }] }], routes: [{ name: 'r', match: { service: 'x.Y' }, cluster: 'static' }] }))
  for (let a = 0; a < apps; a++) await h.store.write(resourceKey('app', `app${a}`), 1, () => app(a))
  const target = Math.floor(apps / 2)
  const w0 = { ...h.store.buildWork }
  const mark = clusterMark()
  // One app's push that changes one instance (a delta) and another that changes all of them.
  await h.store.write(resourceKey('app', `app${target}`), 2, () => app(target, 1))
  const r1 = h.store.snapshot.routes.work
  await h.store.write(resourceKey('app', `app${target + 1}`), 2, () => ({ ...app(target + 1), services: app(target + 1).services.slice(1) }))
  const r2 = h.store.snapshot.routes.work
  // A new app, and an app deleted.
  await h.store.write(resourceKey('app', 'zz-new'), 1, () => app(9999))
  await h.store.write(resourceKey('app', `app${target + 2}`), 2, () => null)
  const r4 = h.store.snapshot.routes.work
  const w1 = h.store.buildWork
  const out = {
    fullBuilds: w1.fullBuilds - w0.fullBuilds,
    appsAssembled: w1.appsAssembled - w0.appsAssembled,
    clustersBuilt: clustersBuiltSince(mark),
    routesCompiled: r1.compiledRoutes + r2.compiledRoutes + r4.compiledRoutes,
    routesIndexed: r1.indexedRoutes + r2.indexedRoutes + r4.indexedRoutes,
    servicesTouched: r1.touchedServices + r2.touchedServices + r4.touchedServices,
  }
  await h.store.close()
  return out
}

// Serial: the cluster count is process-wide, another test building clusters meanwhile would add to it.
test.serial('the work of an app push does not grow with the number of apps', async t => {
  const small = await pushWork(20)
  const big = await pushWork(400)
  t.deepEqual(big, small)
  // And it is the work of those apps only: 4 writes, each assembling its own app once.
  t.is(small.fullBuilds, 0)
  t.is(small.appsAssembled, 3) // the deleted app is not assembled
  t.true(small.clustersBuilt <= 6, JSON.stringify(small))
  t.true(small.servicesTouched <= 4 + 4 + 4 + 4, JSON.stringify(small))
  t.log(small)
})

function view (s: Snapshot): unknown {
  const clusters: Record<string, unknown> = {}
  for (const [name, c] of s.clusters) clusters[name] = { hosts: c.hosts.map(h => h.id), options: c.options }
  return { clusters, routes: s.routes.routes.map(r => r.options) }
}

type Op =
  | { kind: 'app', a: number, v: number }
  | { kind: 'del', a: number }
  | { kind: 'iface', a: number, s: number, v: number }
  | { kind: 'ifaceDel', s: number }
  | { kind: 'template', a: number }
  | { kind: 'routes', n: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('app' as const), a: fc.nat(7), v: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('del' as const), a: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('iface' as const), a: fc.nat(7), s: fc.nat(3), v: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ifaceDel' as const), s: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('template' as const), a: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('routes' as const), n: fc.nat(2) }) },
)

test('any sequence of pushes over several apps gives what a fresh build gives, and routes calls the same', async t => {
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 20 }), async (ops) => {
    const base = baseOptions({ clusters: [{ name: 'static', protocol: 'triple', hosts: [{ address: '10.9.9.9', port: 1 }] }] })
    const h = await openStore(base)
    const s = h.store
    let rev = 0
    for (let a = 0; a < 4; a++) await s.write(resourceKey('app', `app${a}`), ++rev, () => app(a))
    for (const o of ops) {
      switch (o.kind) {
        case 'app': await s.write(resourceKey('app', `app${o.a}`), ++rev, () => app(o.a, o.v)); break
        case 'del': if (s.entry(resourceKey('app', `app${o.a}`))?.value != null) await s.write(resourceKey('app', `app${o.a}`), ++rev, () => null); break
        // The same interface in several apps, and an app known only by interface pushes.
        case 'iface': await s.write(resourceKey('service', `shared.Svc${o.s}`), ++rev, () => ({ app: `app${o.a}`, providers: [{ address: `10.200.${o.a}.${o.v}`, port: 7 }] })); break
        case 'ifaceDel': if (s.entry(resourceKey('service', `shared.Svc${o.s}`))?.value != null) await s.write(resourceKey('service', `shared.Svc${o.s}`), ++rev, () => null); break
        case 'template': await s.write(resourceKey('cluster', `app${o.a}:triple`), ++rev, () => ({ ...base.clusters[0], name: `app${o.a}:triple`, hosts: [], lb: { policy: 'random' } })); break
        case 'routes': await s.write('routes', ++rev, () => Array.from({ length: o.n }, (_, i) => ({ name: `r${i}`, match: { service: { prefix: 'shared.' } }, cluster: 'static', timeoutMs: 1000, requireMethod: false }))); break
      }
      const eff = await buildEffective(base, s.entries())
      const fresh = await compileSnapshot(eff.options, 1, { hosts: new HostRegistry(), logger: silent, baseDir: process.cwd(), nodeId: 'n' })
      t.deepEqual(view(s.snapshot), view(fresh), JSON.stringify(o))
      // The router (explicit part, then the patched discovered index) answers as a fresh one.
      for (const svc of ['shared.Common', 'shared.Svc0', 'shared.Svc2', 'com.acme.app1.Svc0', 'com.acme.app3.Svc3', 'x.Y']) {
        for (const protocol of ['triple', 'bolt'] as const) {
          const c = new Call(protocol, protocol, new ObjectHeaders({}), '127.0.0.1')
          c.service = svc
          t.is(s.snapshot.routes.match(c)?.name, fresh.routes.match(c)?.name, `${protocol} ${svc} after ${JSON.stringify(o)}`)
          t.is(s.snapshot.routes.hasService(svc), fresh.routes.hasService(svc))
        }
      }
    }
    await s.close()
  }), { numRuns: 30 })
})
