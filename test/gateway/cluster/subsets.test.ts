import test from 'ava'
import fc from 'fast-check'
import { Host } from '../../../gateway/cluster/host.js'
import { SubsetIndex, selectorKey } from '../../../gateway/cluster/subsets.js'

test('bitmap selection equals a plain filter, for random hosts and selectors', (t) => {
  fc.assert(fc.property(
    fc.array(fc.record({ a: fc.constantFrom('1', '2', '3'), b: fc.constantFrom('x', 'y') }), { minLength: 0, maxLength: 100 }),
    fc.record({ a: fc.option(fc.constantFrom('1', '2', '3', '9'), { nil: undefined }), b: fc.option(fc.constantFrom('x', 'y'), { nil: undefined }) }),
    (labels, sel) => {
      const hosts = labels.map((l, i) => new Host({ address: '10.0.0.1', port: i + 1, labels: l }))
      const idx = new SubsetIndex(hosts, h => h.labels)
      const selector: Record<string, string> = {}
      if (sel.a !== undefined) selector.a = sel.a
      if (sel.b !== undefined) selector.b = sel.b
      const want = hosts.filter(h => Object.entries(selector).every(([k, v]) => h.labels[k] === v))
      t.deepEqual(idx.select(selector).map(h => h.id), want.map(h => h.id))
    }), { numRuns: 200 })
})

test('results are cached per selector and key order does not matter', (t) => {
  const hosts = [0, 1, 2].map(i => new Host({ address: 'h', port: i + 1, labels: { a: '1', b: String(i) } }))
  const idx = new SubsetIndex(hosts, h => h.labels)
  t.is(idx.select({ a: '1', b: '2' }), idx.select({ b: '2', a: '1' }))
  t.is(selectorKey({ b: '2', a: '1' }), 'a=1,b=2')
  t.is(idx.select({}).length, 3)
})

test('a host\'s zone is selectable as the implicit label `zone` (LDC routing), fresh and spliced', (t) => {
  const hosts = [0, 1, 2, 3].map(i => new Host({ address: 'h', port: i + 1, zone: i < 2 ? 'RZ00' : 'RZ01', labels: { v: String(i % 2) } }))
  const idx = new SubsetIndex(hosts)
  t.deepEqual(idx.select({ zone: 'RZ01' }).map(h => h.port), [3, 4])
  t.deepEqual(idx.select({ zone: 'RZ00', v: '1' }).map(h => h.port), [2])
  const added = new Host({ address: 'h', port: 9, zone: 'RZ01' })
  const next = [...hosts.slice(0, 3), added]
  const sp = SubsetIndex.spliced(idx, next, 3, 1, 1)
  t.deepEqual(sp.select({ zone: 'RZ01' }).map(h => h.port), [3, 9])
})
