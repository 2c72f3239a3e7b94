import test from 'ava'
import { BoltExchanges } from '../../../gateway/upstream/bolt-exchanges.js'

test('ids in sequence: add, take once, unknown ids are undefined', t => {
  const x = new BoltExchanges<string>(4)
  for (let id = 1; id <= 100; id++) x.add(id, `r${id}`, Infinity)
  t.is(x.size, 100)
  for (let id = 1; id <= 100; id++) t.is(x.take(id), `r${id}`)
  t.is(x.take(5), undefined)
  t.is(x.take(1000), undefined)
  t.is(x.size, 0)
})

test('a slow request holds its slot while later ids that map there spill, and all are found', t => {
  const x = new BoltExchanges<string>(4)
  x.add(1, 'slow', Infinity)
  // With few in flight the array stays small, so later ids wrap onto the slow one's slot.
  for (let id = 2; id < 200; id++) { x.add(id, `r${id}`, Infinity); t.is(x.take(id), `r${id}`) }
  t.is(x.size, 1)
  t.is(x.take(1), 'slow')
  // Ids near the top of the u32 range (they wrap to 1 after 0xfffffffe).
  x.add(0xfffffffe, 'top', Infinity)
  x.add(1, 'wrapped', Infinity)
  t.is(x.take(0xfffffffe), 'top')
  t.is(x.take(1), 'wrapped')
  t.is(x.size, 0)
})

test('expire takes what is due (slots and spill), reports the earliest deadline left; takeAll empties', t => {
  const x = new BoltExchanges<string>(8)
  x.add(1, 'a', 10)
  x.add(9, 'b', 15) // the slot of 1 (the array does not grow for 4 of 8): spilled
  x.add(2, 'c', Infinity)
  x.add(3, 'd', 30)
  const out: string[] = []
  t.is(x.expire(20, out), 30)
  t.deepEqual(out.sort(), ['a', 'b'])
  t.is(x.size, 2)
  t.is(x.take(1), undefined)
  t.deepEqual(x.takeAll().sort(), ['c', 'd'])
  t.is(x.size, 0)
  t.is(x.expire(100, []), Infinity)
})
