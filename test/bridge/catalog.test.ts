/** Providers -> admin resources (catalog.ts), and when a change can be an incremental PATCH (pusher.ts). */
import test from 'ava'
import { Catalog, syntheticApp, type AppResource } from '../../bridge/catalog.js'
import type { Provider } from '../../bridge/model.js'
import { canonical, fromAdmin, planPatch } from '../../bridge/pusher.js'

function prov (o: Partial<Provider> & { service: string, port: number }): Provider {
  return {
    protocol: 'bolt', address: '10.0.0.1', app: 'pay', version: '1.0', group: '', zone: undefined,
    weight: 100, warmup: undefined, labels: { bridge: 'zookeeper' }, language: 'java', ...o,
  }
}

test('providers with an appName group into one app resource: instances by address/port/protocol, services with version and group', t => {
  const c = new Catalog()
  t.deepEqual(c.set('com.a.One', [prov({ service: 'com.a.One', port: 1 }), prov({ service: 'com.a.One', port: 2 })]), ['app/pay'])
  t.deepEqual(c.set('com.a.Two', [prov({ service: 'com.a.Two', port: 1, group: 'blue' }), prov({ service: 'com.a.Two', port: 2, group: 'blue' })]), ['app/pay'])
  const r = c.build('app/pay', 0).resource as AppResource
  t.is(r.kind, 'app')
  t.deepEqual(r.services, [{ name: 'com.a.One', version: '1.0' }, { name: 'com.a.Two', version: '1.0', group: 'blue' }])
  t.deepEqual(r.instances.map(i => [i.port, i.protocols, i.services]), [[1, ['bolt'], undefined], [2, ['bolt'], undefined]])
  t.deepEqual([...c.keys()], ['app/pay'])
})

test('an instance exporting only some services lists them; the lowest weight of its registrations wins', t => {
  const c = new Catalog()
  c.set('com.a.One', [prov({ service: 'com.a.One', port: 1, weight: 100 }), prov({ service: 'com.a.One', port: 2 })])
  c.set('com.a.Two', [prov({ service: 'com.a.Two', port: 1, weight: 40 })])
  const r = c.build('app/pay', 0).resource as AppResource
  t.deepEqual(r.instances.map(i => [i.port, i.weight, i.services]), [[1, 40, undefined], [2, 100, ['com.a.One']]])
})

test('without an appName: one interface-level resource; several variants: an app named after the service', t => {
  const c = new Catalog()
  t.deepEqual(c.set('com.a.Plain', [prov({ service: 'com.a.Plain', port: 1, app: undefined })]), ['service/com.a.Plain'])
  t.like(c.build('service/com.a.Plain', 0).resource, { kind: 'service', app: 'com.a.Plain', version: '1.0' })
  const dirty = c.set('com.a.Plain', [prov({ service: 'com.a.Plain', port: 1, app: undefined }), prov({ service: 'com.a.Plain', port: 2, app: undefined, version: '2.0' })])
  t.deepEqual(dirty.sort(), ['app/com.a.Plain', 'service/com.a.Plain'])
  t.is(c.build('service/com.a.Plain', 0).resource, null, 'the interface-level resource is deleted')
  const r = c.build('app/com.a.Plain', 0).resource as AppResource
  t.deepEqual(r.services, [{ name: 'com.a.Plain', version: '1.0' }, { name: 'com.a.Plain', version: '2.0' }])
  t.is(c.build('app/com.a.Plain', 0).ambiguous, 2, 'each instance exports one of two variants of the same name')
  t.is(syntheticApp('com.x.Outer$Inner'), 'com.x.Outer_Inner')
})

test('a provider warming up: its weight until the warm-up ends, and the time to rebuild', t => {
  const c = new Catalog()
  c.set('com.a.One', [prov({ service: 'com.a.One', port: 1, weight: 300, warmup: { weight: 5, until: 1000 } })])
  const early = c.build('app/pay', 500)
  t.is((early.resource as AppResource).instances[0].weight, 5)
  t.is(early.wakeAt, 1000)
  const late = c.build('app/pay', 1000)
  t.is((late.resource as AppResource).instances[0].weight, 300)
  t.is(late.wakeAt, null)
})

test('replaceAll reports every key before and after; an emptied service leaves nothing', t => {
  const c = new Catalog()
  c.set('com.a.One', [prov({ service: 'com.a.One', port: 1 })])
  const dirty = c.replaceAll(new Map([['com.b.Two', [prov({ service: 'com.b.Two', port: 9, app: 'billing' })]]]))
  t.deepEqual(dirty.sort(), ['app/billing', 'app/pay'])
  t.is(c.build('app/pay', 0).resource, null)
  t.is(c.providerCount, 1)
})

const app = (instances: AppResource['instances'], services = [{ name: 'S' }]): AppResource => ({ kind: 'app', name: 'pay', instances, services })
const inst = (port: number, o: Record<string, unknown> = {}): AppResource['instances'][number] => ({ address: '10.0.0.1', port, protocols: ['bolt'], labels: { bridge: 'zookeeper' }, weight: 100, ...o })

test('planPatch: removals, additions and re-weighings of one protocol are a PATCH; the rest needs a full push', t => {
  const held = app([inst(1), inst(2), inst(3)])
  t.deepEqual(planPatch(held, app([inst(1), inst(3)])), { protocol: 'bolt', remove: [{ address: '10.0.0.1', port: 2 }], add: [] })
  t.deepEqual(planPatch(held, app([inst(1), inst(2), inst(3), inst(4, { zone: 'z1' })])), {
    protocol: 'bolt', remove: [], add: [{ address: '10.0.0.1', port: 4, labels: { bridge: 'zookeeper' }, weight: 100, zone: 'z1' }],
  })
  // A weight change: remove and add the same host in one write (its pool is kept).
  t.deepEqual(planPatch(held, app([inst(1), inst(2, { weight: 7 }), inst(3)]))?.remove, [{ address: '10.0.0.1', port: 2 }])
  t.is(planPatch(held, app([inst(1), inst(2), inst(3)], [{ name: 'S' }, { name: 'T' }])), null, 'services changed')
  t.is(planPatch(held, app([inst(1), inst(2), inst(3), inst(4, { services: ['S'] })])), null, 'a PATCH-added host exports every service')
  t.is(planPatch(held, app([inst(1), inst(2), inst(3, { protocols: ['triple'] })])), null, 'two protocols')
  t.is(planPatch(held, app([])), null, 'nothing left: a delete')
})

test('canonical ignores order; fromAdmin reads back what the admin stores', t => {
  const a = app([inst(2), inst(1, { labels: { b: '2', a: '1' } })], [{ name: 'T' }, { name: 'S' }])
  const b = app([inst(1, { labels: { a: '1', b: '2' } }), inst(2)], [{ name: 'S' }, { name: 'T' }])
  t.is(canonical(a), canonical(b))
  t.not(canonical(a), canonical(app([inst(1), inst(2)])))
  const back = fromAdmin('app/pay', { revision: 5, instances: b.instances, services: b.services })
  t.is(canonical(back!), canonical(a))
  t.is(fromAdmin('app/pay', { revision: 1, instances: [{ address: 'x', port: 1, protocols: ['bolt', 'triple'] }], services: [] }), null, 'not a shape this bridge writes')
})
