import test from 'ava'
import rateLimit from '../../../filters/rate-limit/index.js'
import type { RateLimitConfig } from '../../../filters/rate-limit/config.js'
import { CONTINUE, type Call, type Filter } from '../../../gateway/chain/filter-api.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { compileFilter, makeCall } from '../../_helpers/compile-filter.js'

function setup (o: Record<string, unknown> = {}): { f: Filter, cfg: RateLimitConfig } {
  // A long window: these tests drive sample() themselves.
  const { filter, config } = compileFilter(rateLimit, { adaptive: { windowMs: 10000, maxEventLoopDelayMs: 50, recoverWindows: 2, minConcurrency: 2, ...o } }) as { filter: Filter, config: RateLimitConfig }
  return { f: filter, cfg: config }
}

const HOT = { delayMs: 500, utilization: 1 }
const CALM = { delayMs: 1, utilization: 0.1 }

function call (service: string, o: { stress?: boolean, method?: string } = {}): Call {
  const c = makeCall({ service, method: o.method ?? 'm' })
  c.stress = o.stress === true
  return c
}

function end (f: Filter, c: Call, ms: number): void {
  Object.assign(c, { endedAt: c.startedAt + ms, status: 0 })
  f.onLog!(c)
}

const shed = (v: unknown): string | null => v instanceof LocalReply ? v.message : null

test('escalates one level per overloaded window, steps back after recoverWindows calm ones', (t) => {
  const { f, cfg } = setup()
  const g = cfg.adaptive!
  f.onRequest!(call('a')) // starts sampling
  let now = 1e9
  const levels: number[] = []
  for (const m of [HOT, HOT, HOT, HOT, CALM, CALM, CALM, CALM, CALM, CALM]) { g.sample(now += 250, m); levels.push(g.level) }
  t.deepEqual(levels, [1, 2, 3, 3, 3, 2, 2, 1, 1, 0])
  f.close?.()
})

test('sheds stress first, then low priority, never high priority; normal calls pass until level 3', (t) => {
  const { f, cfg } = setup({ priorities: [{ app: undefined, service: 'batch.*', priority: 'low' }, { service: 'batch.Vip', priority: 'high' }] })
  const g = cfg.adaptive!
  f.onRequest!(call('warm'))
  let now = 1e9
  g.sample(now += 250, HOT) // level 1
  t.regex(shed(f.onRequest!(call('svc', { stress: true }))) ?? '', /sheds stress-test traffic first/)
  t.is(f.onRequest!(call('batch.Job')), CONTINUE, 'low priority still passes at level 1')
  t.is(f.onRequest!(call('svc')), CONTINUE)
  g.sample(now += 250, HOT) // level 2
  t.regex(shed(f.onRequest!(call('batch.Job'))) ?? '', /sheds low-priority calls/)
  t.is(f.onRequest!(call('batch.Vip')), CONTINUE, 'high priority is never shed')
  t.is(f.onRequest!(call('svc')), CONTINUE)
  f.close?.()
})

test('level 3 caps the service whose concurrency grew (halving while hot, growing while calm); a light service is not capped', (t) => {
  const { f, cfg } = setup()
  const g = cfg.adaptive!
  let now = 1e9
  // Calm windows teach the estimate: heavy runs 1 at a time at ~10 ms (capacity ~1 -> floor 2).
  for (let w = 0; w < 3; w++) {
    for (let i = 0; i < 20; i++) { const c = call('heavy'); t.is(f.onRequest!(c), CONTINUE); end(f, c, 10) }
    const l = call('light'); f.onRequest!(l); end(f, l, 2)
    g.sample(now += 250, CALM)
  }
  // Heavy now holds 40 calls in flight; light still one at a time.
  const held: Call[] = []
  for (let i = 0; i < 40; i++) { const c = call('heavy'); t.is(f.onRequest!(c), CONTINUE); held.push(c) }
  g.sample(now += 250, HOT); g.sample(now += 250, HOT); g.sample(now += 250, HOT)
  t.is(g.level, 3)
  const heavy = g.statsFor('heavy')
  t.is(heavy.cap, 2, 'the estimate, floored at minConcurrency')
  t.is(g.statsFor('light').cap, Infinity)
  t.regex(shed(f.onRequest!(call('heavy'))) ?? '', /over its concurrency/)
  const l = call('light'); t.is(f.onRequest!(l), CONTINUE); end(f, l, 2)
  // The 40 end; one window still hot: the cap halves (to its floor of 1).
  for (const c of held) end(f, c, 100)
  g.sample(now += 250, HOT)
  t.is(heavy.cap, 1)
  t.is(f.onRequest!(call('heavy')), CONTINUE, 'one in flight is allowed')
  t.regex(shed(f.onRequest!(call('heavy'))) ?? '', /over its concurrency/)
  // Calm: the cap grows back and is lifted once the level drops.
  const caps: number[] = []
  for (let w = 0; w < 12; w++) { g.sample(now += 250, CALM); caps.push(heavy.cap) }
  t.true(caps[0] > 1)
  t.is(caps[caps.length - 1], Infinity, caps.join(','))
  f.close?.()
})

test('latencyFactor: a service much slower than its baseline is capped on its own, the loop calm', (t) => {
  const { f, cfg } = setup({ maxEventLoopDelayMs: 0, latencyFactor: 3 })
  const g = cfg.adaptive!
  let now = 1e9
  for (let w = 0; w < 3; w++) {
    for (let i = 0; i < 10; i++) { const c = call('up'); f.onRequest!(c); end(f, c, 5) }
    g.sample(now += 250, CALM)
  }
  const held: Call[] = []
  for (let i = 0; i < 10; i++) { const c = call('up'); f.onRequest!(c); held.push(c) }
  for (const c of held.slice(0, 5)) end(f, c, 50)
  g.sample(now += 250, CALM)
  t.is(g.level, 0)
  t.is(g.statsFor('up').cap, 2)
  t.regex(shed(f.onRequest!(call('up'))) ?? '', /over its concurrency/)
  f.close?.()
})
