/** The coalescer: a burst becomes one flush; the delay is bounded even while reads run; one flush at a time. */
import test from 'ava'
import { Backoff, Coalescer } from '../../bridge/coalescer.js'

function harness (o: { delayMs?: number, maxDelayMs?: number, busy?: () => boolean, flushMs?: number } = {}) {
  const flushes: Array<{ keys: string[], at: number }> = []
  let running = 0
  let overlapped = false
  let wake: (() => void) | null = null
  const c = new Coalescer({
    delayMs: o.delayMs ?? 50,
    maxDelayMs: o.maxDelayMs ?? 400,
    busy: o.busy ?? (() => false),
    async flush (keys) {
      if (running++ > 0) overlapped = true
      flushes.push({ keys: [...keys.keys()].sort(), at: Date.now() })
      await new Promise(resolve => setTimeout(resolve, o.flushMs ?? 0))
      running--
      wake?.()
    },
  })
  const flushed = (n: number): Promise<void> => new Promise(resolve => {
    const check = (): void => { if (flushes.length >= n) resolve() }
    wake = check
    check()
  })
  return { c, flushes, flushed, overlapped: () => overlapped }
}

test('a burst of marks within the window is one flush with every key', async t => {
  const h = harness()
  for (let i = 0; i < 200; i++) h.c.mark([`app/${i % 10}`])
  h.c.mark(['app/0', 'service/x'])
  await h.flushed(1)
  await new Promise(resolve => setTimeout(resolve, 120))
  t.is(h.flushes.length, 1)
  t.deepEqual(h.flushes[0].keys, [...Array.from({ length: 10 }, (_, i) => `app/${i}`), 'service/x'].sort())
  t.is(h.c.pending, 0)
})

test('while reads are in flight the flush waits for them, but never past maxDelayMs', async t => {
  let busy = true
  const h = harness({ busy: () => busy, delayMs: 20, maxDelayMs: 300 })
  const start = Date.now()
  h.c.mark(['a'])
  await new Promise(resolve => setTimeout(resolve, 100))
  t.is(h.flushes.length, 0, 'held while busy')
  h.c.mark(['b'])
  await h.flushed(1)
  t.true(h.flushes[0].at - start >= 290, 'not before the cap')
  t.deepEqual(h.flushes[0].keys, ['a', 'b'])
  busy = false
  h.c.mark(['c'])
  await h.flushed(2)
  t.deepEqual(h.flushes[1].keys, ['c'])
})

test('one flush at a time: keys marked during a flush go into the next; lag keeps the first mark time', async t => {
  const h = harness({ delayMs: 10, flushMs: 150 })
  const t0 = Date.now() - 5000
  h.c.mark(['a'], t0)
  t.is(h.c.oldest(), t0)
  await h.flushed(1)
  h.c.mark(['b'])
  h.c.mark(['a'])
  t.is(h.c.oldest(), t0, 'in flight still counts for the lag')
  await h.flushed(2)
  t.false(h.overlapped())
  t.deepEqual(h.flushes[1].keys, ['a', 'b'])
})

test('notBefore delays the next flush (retry back-off)', async t => {
  const h = harness({ delayMs: 0 })
  const start = Date.now()
  h.c.mark(['a'], start, start + 200)
  await h.flushed(1)
  t.true(h.flushes[0].at - start >= 190)
})

test('backoff doubles to its cap, with jitter, and resets', t => {
  const b = new Backoff(100, 1000)
  const d = [b.fail(), b.fail(), b.fail(), b.fail(), b.fail(), b.fail()]
  t.true(d[0] >= 80 && d[0] <= 120)
  t.true(d[1] >= 160 && d[1] <= 240)
  t.true(d[5] >= 800 && d[5] <= 1200)
  b.reset()
  t.true(b.fail() <= 120)
})
