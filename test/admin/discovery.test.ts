import test from 'ava'
import { resourceKey } from '../../admin/effective.js'
import { baseOptions, openStore } from '../_helpers/admin.js'

const services = Array.from({ length: 20 }, (_, i) => ({ name: `com.acme.Svc${i}`, version: '1.0' }))
const instances = [1, 2, 3].map(i => ({ address: `10.0.0.${i}`, port: 50051, protocols: ['triple', 'bolt'], ports: { bolt: 12200 }, zone: 'gz00a', labels: { cell: `c${i}` } }))

function clusterView (s: Awaited<ReturnType<typeof openStore>>['store'], name: string) {
  const c = s.snapshot.clusters.get(name)
  if (c === undefined) throw new Error(`no cluster ${name}`)
  return c.hosts.map(h => ({ id: h.id, labels: c.subsets.select({}).includes(h) ? { ...s.options.clusters.find(x => x.name === name)!.hosts.find(x => `${x.address}:${x.port}` === h.id)!.labels } : {} }))
    .sort((a, b) => a.id.localeCompare(b.id))
}

test('interface-level pushes for 20 services equal the app-level push', async t => {
  const a = await openStore(baseOptions())
  await a.store.write(resourceKey('app', 'shop'), 1, () => ({ instances, services }))
  const b = await openStore(baseOptions())
  for (const s of services) {
    await b.store.write(resourceKey('service', s.name), 1, () => ({ app: 'shop', version: s.version, providers: instances }))
  }
  for (const name of ['shop:triple', 'shop:bolt']) {
    t.deepEqual(clusterView(b.store, name), clusterView(a.store, name))
    t.deepEqual(a.store.options.clusters.find(c => c.name === name), b.store.options.clusters.find(c => c.name === name))
  }
  t.deepEqual(a.store.snapshot.clusters.get('shop:bolt')!.hosts.map(h => h.port), [12200, 12200, 12200])
  t.deepEqual(
    a.store.options.routes.map(r => r.name).sort(),
    b.store.options.routes.map(r => r.name).sort(),
  )
  t.is(a.store.options.routes.length, 40) // 20 services x 2 protocols
})

test('a service selects the subset of instances exporting it', async t => {
  const a = await openStore(baseOptions())
  await a.store.write(resourceKey('app', 'shop'), 1, () => ({
    instances: [
      { address: '10.0.0.1', port: 1 },
      { address: '10.0.0.2', port: 1, services: ['A'] },
      { address: '10.0.0.3', port: 1, services: ['B'] },
    ],
    services: [{ name: 'A' }, { name: 'B' }],
  }))
  const c = a.store.snapshot.clusters.get('shop:triple')!
  t.deepEqual(c.subsets.select({ 'service:A': 'true' }).map(h => h.id), ['10.0.0.1:1', '10.0.0.2:1'])
  t.deepEqual(c.subsets.select({ 'service:B': 'true' }).map(h => h.id), ['10.0.0.1:1', '10.0.0.3:1'])
  const routeA = a.store.options.routes.find(r => r.name === 'discovery:shop:triple:A')!
  t.deepEqual(routeA.subset, { 'service:A': 'true' })
  t.deepEqual(routeA.match, { protocol: 'triple', service: { exact: 'A' } })
  // the discovered cluster does not fall back to other services' hosts
  t.is(a.store.options.clusters.find(x => x.name === 'shop:triple')!.subsetFallback.policy, 'none')
})

test('explicit routes win over auto-routes; a configured cluster is the template', async t => {
  const a = await openStore(baseOptions({
    clusters: [
      { name: 'legacy', protocol: 'triple', hosts: [{ address: '10.9.9.9', port: 1 }] },
      { name: 'shop:triple', protocol: 'triple', lb: { policy: 'least-request' }, hosts: [{ address: '10.8.8.8', port: 1 }] },
    ],
    routes: [{ name: 'pin', match: { service: 'A' }, cluster: 'legacy' }],
  }))
  await a.store.write(resourceKey('app', 'shop'), 1, () => ({ instances: [{ address: '10.0.0.1', port: 1 }], services: [{ name: 'A' }] }))
  const c = a.store.options.clusters.find(x => x.name === 'shop:triple')!
  t.is(c.lb.policy, 'least-request')
  t.deepEqual(c.hosts.map(h => h.address), ['10.0.0.1'])
  t.is(a.store.options.routes[0].name, 'pin')
  t.is(a.store.options.routes[1].name, 'discovery:shop:triple:A')
})

test('hosts are interned across pushes and dropped ones are reported', async t => {
  const a = await openStore(baseOptions())
  await a.store.write(resourceKey('app', 'shop'), 1, () => ({ instances: [{ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 1 }], services: [{ name: 'A' }] }))
  const h1 = a.store.snapshot.clusters.get('shop:triple')!.hosts[0]
  await a.store.write(resourceKey('app', 'shop'), 2, () => ({ instances: [{ address: '10.0.0.1', port: 1 }, { address: '10.0.0.3', port: 1 }], services: [{ name: 'A' }] }))
  t.is(a.store.snapshot.clusters.get('shop:triple')!.hosts[0], h1)
  t.deepEqual(a.dropped, [['10.0.0.2:1']])
  t.is(a.hosts.get('10.0.0.2:1'), undefined)
})
