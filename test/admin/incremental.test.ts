/**
 * The incremental write path (EffectiveBuilder + AppAssembler splices + compileSnapshot with
 * the previous snapshot) must give exactly what a fresh build gives, and reuse what did not
 * change: clusters, hosts, subset indexes, the route table, compiled filters and chains.
 */
import test from 'ava'
import fc from 'fast-check'
import { buildEffective, resourceKey } from '../../admin/effective.js'
import type { AppPushOptions, InstanceOptions } from '../../admin/discovery/model.js'
import { HostRegistry } from '../../gateway/cluster/host.js'
import { compileSnapshot } from '../../gateway/config/compile.js'
import { countHostRefs } from '../../gateway/config/host-refs.js'
import { notedSplice, spliceOf } from '../../gateway/util/arrays.js'
import type { Snapshot } from '../../gateway/config/snapshot.js'
import { retiredFilters } from '../../gateway/config/snapshot.js'
import { baseOptions, openStore, silent, startAdmin, TOKEN } from '../_helpers/admin.js'

const SERVICES = [{ name: 'A' }, { name: 'B' }, { name: 'C', version: '2' }]

function inst (i: number, extra: Partial<InstanceOptions> = {}): InstanceOptions {
  return { address: `10.0.${i >> 8}.${i & 255}`, port: 50051, protocols: ['triple', 'bolt'], ports: { bolt: 12200 }, zone: `z${i % 3}`, labels: { cell: `c${i % 4}` }, ...extra }
}

/** What a call can observe of a snapshot: hosts in order, and every subset it can select. */
function view (s: Snapshot): unknown {
  const out: Record<string, unknown> = {}
  for (const [name, c] of s.clusters) {
    const selectors: Array<Record<string, string>> = [{}, { zone: 'z0' }, { zone: 'z2' }, { cell: 'c1' }, { cell: 'c3', zone: 'z1' }, { color: 'red' }]
    for (const sv of ['A', 'B', 'C:2']) selectors.push({ [`service:${sv}`]: 'true' }, { [`service:${sv}`]: 'true', zone: 'z1' })
    out[name] = {
      hosts: c.hosts.map(h => `${h.id} ${h.zone} ${JSON.stringify(h.labels)}`),
      subsets: selectors.map(sel => c.subsets.select(sel).map(h => h.id)),
      options: c.options,
    }
  }
  return { clusters: out, routes: s.routes.routes.map(r => r.options) }
}

async function fresh (base: ReturnType<typeof baseOptions>, store: Awaited<ReturnType<typeof openStore>>['store']): Promise<Snapshot> {
  const eff = await buildEffective(base, store.entries())
  return await compileSnapshot(eff.options, 1, { hosts: new HostRegistry(), logger: silent, baseDir: process.cwd(), nodeId: 'n' })
}

type Op =
  | { kind: 'remove', at: number }
  | { kind: 'add', id: number }
  | { kind: 'relabel', at: number }
  | { kind: 'only', at: number }
  | { kind: 'dup', at: number }
  | { kind: 'services' }
  | { kind: 'full' }
  | { kind: 'iface', id: number }
  | { kind: 'template' }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('remove' as const), at: fc.nat(1000) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 120 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('relabel' as const), at: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('only' as const), at: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), at: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('services' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('full' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('iface' as const), id: fc.integer({ min: 0, max: 120 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('template' as const) }) },
)

test('any sequence of deltas gives what a fresh build gives', async t => {
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
    const base = baseOptions({ clusters: [{ name: 'static', protocol: 'triple', hosts: [{ address: '10.9.9.9', port: 1 }] }] })
    const h = await openStore(base)
    const s = h.store
    let rev = 0
    const instances = Array.from({ length: 40 }, (_, i) => inst(i))
    await s.write(resourceKey('app', 'shop'), ++rev, () => ({ instances, services: SERVICES }))
    for (const o of ops) {
      const prevOptions = s.snapshot.options
      const cur = (s.entry(resourceKey('app', 'shop'))?.value ?? { instances: [], services: SERVICES }) as AppPushOptions
      const list = cur.instances
      const at = list.length === 0 ? 0 : o.kind !== 'add' && o.kind !== 'services' && o.kind !== 'full' && o.kind !== 'iface' && o.kind !== 'template' ? o.at % list.length : 0
      let next: AppPushOptions | null = null
      switch (o.kind) {
        case 'remove': next = { ...cur, instances: list.filter((_, i) => i !== at) }; break
        case 'add': next = { ...cur, instances: [...list, inst(o.id)] }; break
        case 'relabel': if (list.length > 0) next = { ...cur, instances: list.map((x, i) => i === at ? { ...x, labels: { color: 'red' }, zone: 'z1' } : x) }; break
        case 'only': if (list.length > 0) next = { ...cur, instances: list.map((x, i) => i === at ? { ...x, services: ['B'], protocols: ['bolt'] } : x) }; break
        case 'dup': if (list.length > 0) next = { ...cur, instances: [...list, list[at]] }; break
        case 'services': next = { ...cur, services: cur.services.length === 3 ? SERVICES.slice(0, 2) : SERVICES }; break
        case 'full': next = { ...cur, instances: structuredClone(list) }; break
        case 'iface':
          await s.write(resourceKey('service', 'D'), ++rev, () => ({ app: 'shop', providers: [inst(o.id)] }))
          break
        case 'template':
          await s.write(resourceKey('cluster', 'shop:triple'), ++rev, () => ({ ...base.clusters[0], name: 'shop:triple', hosts: [], lb: { policy: 'least-request' } }))
          break
      }
      if (next !== null) await s.write(resourceKey('app', 'shop'), ++rev, () => next)
      t.deepEqual(view(s.snapshot), view(await fresh(base, s)), JSON.stringify(o))
      // A splice the builder noted is the one a scan finds; host counts equal a recount.
      for (const k of ['clusters', 'routes'] as const) {
        const noted = notedSplice<unknown>(prevOptions[k], s.snapshot.options[k])
        if (noted !== undefined) t.deepEqual(noted, spliceOf<unknown>([...prevOptions[k]], s.snapshot.options[k]), `${k} ${JSON.stringify(o)}`)
      }
      t.deepEqual(new Map([...s.snapshot.hostRefs].sort()), new Map([...countHostRefs(s.snapshot.clusters.values())].sort()))
      // the registry holds exactly the hosts of the live snapshot
      const live = new Set<string>()
      for (const c of s.snapshot.clusters.values()) for (const x of c.hosts) live.add(x.id)
      for (const id of live) t.truthy(h.hosts.get(id))
    }
    await s.close()
  }), { numRuns: 40 })
})

test('a one-host delta reuses other clusters, the route table, filters, chains and unchanged hosts', async t => {
  const base = baseOptions({
    clusters: [{ name: 'static', protocol: 'triple', hosts: [{ address: '10.9.9.9', port: 1 }] }],
    filters: [{ name: 'headers', config: { request: { set: { 'x-a': '1' } } } }],
  })
  const h = await openStore(base)
  const s = h.store
  const instances = Array.from({ length: 200 }, (_, i) => inst(i))
  await s.write(resourceKey('app', 'shop'), 1, () => ({ instances, services: SERVICES }))
  const before = s.snapshot
  await s.write(resourceKey('app', 'shop'), 2, (cur) => ({ ...(cur as AppPushOptions), instances: instances.filter((_, i) => i !== 17) }))
  const after = s.snapshot
  t.is(after.clusters.get('static'), before.clusters.get('static'))
  t.is(after.routes, before.routes)
  t.is(after.filters[0], before.filters[0])
  t.is(after.chains.triple, before.chains.triple)
  t.deepEqual(retiredFilters(before, after), [])
  const b0 = before.clusters.get('shop:bolt')!
  const b1 = after.clusters.get('shop:bolt')!
  t.not(b1, b0)
  t.is(b1.hosts.length, 199)
  t.is(b1.hosts[0], b0.hosts[0])
  t.is(b1.lineage?.from, b0.id)
  t.deepEqual(b1.lineage?.removed.map(x => x.id), ['10.0.0.17:12200'])
  t.deepEqual(h.dropped.at(-1)?.sort(), ['10.0.0.17:12200', '10.0.0.17:50051'])
  t.is(h.hosts.get('10.0.0.17:50051'), undefined)
  // unchanged HostOptions objects are kept, so the compiler could splice
  const o0 = before.options.clusters.find(c => c.name === 'shop:triple')!
  const o1 = after.options.clusters.find(c => c.name === 'shop:triple')!
  t.is(o1.hosts[18], o0.hosts[19])
})

test('a filter config change recompiles that filter only; the old one is retired', async t => {
  const base = baseOptions({
    filters: [
      { name: 'headers', config: { request: { set: { 'x-a': '1' } } } },
      { name: 'deny', config: { rules: [{ name: 'no-y', service: 'x.Y' }] } },
    ],
  })
  const h = await openStore(base)
  const s = h.store
  const s0 = s.snapshot
  await s.write(resourceKey('filter', 'headers'), 1, () => ({ config: { request: { set: { 'x-a': '2' } } } }))
  const s1 = s.snapshot
  t.not(s1.filters[0], s0.filters[0])
  t.is(s1.filters[1], s0.filters[1])
  t.deepEqual(retiredFilters(s0, s1), [s0.filters[0]])
  // the same content again (a new object): same key, same filter
  await s.write(resourceKey('filter', 'headers'), 2, () => ({ config: { request: { set: { 'x-a': '2' } } } }))
  t.is(s.snapshot.filters[0], s1.filters[0])
  t.is(s.snapshot.chains.bolt, s1.chains.bolt)
  // disabling removes it from the chain and retires it
  await s.write(resourceKey('filter', 'deny'), 1, () => ({ enabled: false }))
  t.deepEqual(retiredFilters(s1, s.snapshot), [s1.filters[1]])
  t.is(s.snapshot.filters.length, 1)
})

test('a big push is validated in slices with the same error paths', async t => {
  const a = await startAdmin(baseOptions({ listeners: { triple: { port: 0 }, admin: { token: TOKEN, maxBodyBytes: 4 * 1024 * 1024 } } }))
  t.teardown(() => a.close())
  const instances: Array<Record<string, unknown>> = Array.from({ length: 1500 }, (_, i) => ({ address: `10.2.${i >> 8}.${i & 255}`, port: 1 }))
  instances[1200] = { address: '10.3.0.1', port: 'x' }
  const bad = await a.call('PUT', '/v1/discovery/apps/big', { revision: 1, instances, services: [{ name: 'A' }] })
  t.is(bad.status, 400)
  t.is(bad.body.error.path, '/instances/1200/port')
  const badHead = await a.call('PUT', '/v1/discovery/services/S', { revision: 1, app: 'big', providers: instances.slice(0, 1100), extra: 1 })
  t.is(badHead.status, 400)
  t.is(badHead.body.error.path, '/extra')
  instances[1200] = { address: '10.3.0.1', port: 2 }
  const ok = await a.call('PUT', '/v1/discovery/apps/big', { revision: 1, instances })
  t.is(ok.status, 200, JSON.stringify(ok.body))
  t.is(a.store.snapshot.clusters.get('big:triple')!.hosts.length, 1500)
  // ajv defaults still applied by the sliced path
  t.deepEqual((a.store.entry(resourceKey('app', 'big'))!.value as AppPushOptions).services, [])
})
