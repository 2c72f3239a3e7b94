import test from 'ava'
import fc from 'fast-check'
import { WaitQueue, type Waiter } from '../../../gateway/upstream/wait-queue.js'

interface W extends Waiter { id: number }

test('WaitQueue behaves like a FIFO with removal, through holes and compaction', (t) => {
  fc.assert(fc.property(
    fc.array(fc.oneof(fc.constant({ op: 'push' as const }), fc.constant({ op: 'shift' as const }), fc.record({ op: fc.constant('remove' as const), pick: fc.nat() })), { maxLength: 4000 }),
    (ops) => {
      const q = new WaitQueue<W>()
      const model: W[] = []
      let next = 0
      for (const o of ops) {
        if (o.op === 'push') {
          const w: W = { id: next++, waitSeq: -1 }
          q.push(w, w.id)
          model.push(w)
        } else if (o.op === 'shift') {
          const got = q.shift()
          const want = model.shift() ?? null
          if (got !== want) return false
          if (got !== null && got.waitSeq !== -1) return false
        } else if (model.length > 0) {
          const w = model.splice(o.pick % model.length, 1)[0]
          q.remove(w)
          q.remove(w) // idempotent
          if (w.waitSeq !== -1) return false
        }
        if (q.size !== model.length) return false
        if ((q.peek() ?? null) !== (model[0] ?? null)) return false
        if (model.length > 0 && q.peekTime() !== model[0].id) return false
      }
      return true
    },
  ), { numRuns: 200 })
  t.pass()
})

test('WaitQueue: removing a waiter that already left is a no-op', (t) => {
  const q = new WaitQueue<W>()
  const a: W = { id: 1, waitSeq: -1 }
  const b: W = { id: 2, waitSeq: -1 }
  q.push(a, 0)
  q.push(b, 0)
  t.is(q.shift(), a)
  q.remove(a)
  t.is(q.size, 1)
  t.is(q.shift(), b)
  t.is(q.shift(), null)
})
