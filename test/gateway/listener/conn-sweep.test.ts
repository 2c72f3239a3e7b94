import test from 'ava'
import { performance } from 'node:perf_hooks'
import { ConnSweep, type Sweepable } from '../../../gateway/listener/conn-sweep.js'

// The sweep's interval never keeps a process alive (unref): this does, for the test's length.
const alive = setInterval(() => {}, 1000)
test.after.always(() => { clearInterval(alive) })

/** An item that asks for its next look `gapMs` ahead, `looks` times, and records each visit. */
class Item implements Sweepable {
  readonly visits: Array<{ now: number, asked: number }> = []
  asked = 0
  left: number
  readonly gapMs: number
  readonly done: Promise<void>
  #resolve!: () => void
  #visited: (() => void) | null = null
  constructor (gapMs: number, looks: number) {
    this.gapMs = gapMs
    this.left = looks
    this.done = new Promise((resolve) => { this.#resolve = resolve })
  }

  nextVisit (): Promise<void> { return new Promise((resolve) => { this.#visited = resolve }) }

  sweep (now: number): boolean | number {
    this.visits.push({ now, asked: this.asked })
    const v = this.#visited
    this.#visited = null
    v?.()
    if (--this.left === 0) { this.#resolve(); return false }
    this.asked = now + this.gapMs
    return this.asked
  }
}

test('an item is looked at when it asked, not on every tick in between', async (t) => {
  const sweep = new ConnSweep(20, (err) => { t.fail(String(err)) })
  const item = new Item(150, 4)
  sweep.add(item)
  await item.done
  t.is(item.visits.length, 4)
  // Every look after the first is at most one tick (20 ms) before the time it asked for: the
  // bucket of that time (a scan of every item on every tick would look ~7 times per gap, the
  // first ~130 ms early).
  for (const v of item.visits.slice(1)) t.true(v.now >= v.asked - 20, `looked at ${v.now}, asked for ${v.asked}`)
  t.is(sweep.size, 0, 'false takes it out')
  sweep.stop()
})

test('add() again brings an item asking for a far look to the next tick; delete() takes it out', async (t) => {
  const sweep = new ConnSweep(20, (err) => { t.fail(String(err)) })
  const item = new Item(1e9, 100)
  const first = item.nextVisit()
  sweep.add(item)
  await first
  t.is(item.visits.length, 1)
  const second = item.nextVisit()
  const at = performance.now()
  sweep.add(item) // its deadline moved earlier (an event)
  await second
  t.is(item.visits.length, 2)
  t.true(item.visits[1].now >= at)
  t.is(sweep.size, 1, 'one entry, not one per add')
  sweep.delete(item)
  t.is(sweep.size, 0)
  sweep.stop()
})

test('a throwing item leaves the sweep and the others stay', async (t) => {
  const errors: unknown[] = []
  const sweep = new ConnSweep(20, (err) => { errors.push(err) })
  const bad: Sweepable = { sweep () { throw new Error('broken') } }
  const good = new Item(10, 3)
  sweep.add(bad)
  sweep.add(good)
  await good.done
  t.is(errors.length, 1)
  t.is(sweep.size, 0)
  sweep.stop()
})
