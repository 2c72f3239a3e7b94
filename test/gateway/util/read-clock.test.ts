import test from 'ava'
import { performance } from 'node:perf_hooks'
import { enterRead, leaveRead, now } from '../../../gateway/util/read-clock.js'

/** Spin until performance.now() has moved past `t` (the clock's resolution is finite). */
function after (t: number): void { while (performance.now() <= t) { /* spin */ } }

test('inside a read every now() is the read\'s time; outside, and after it, the live clock', t => {
  enterRead()
  const inRead = now()
  after(inRead)
  t.is(now(), inRead, 'the same time for the whole read')
  // A nested read (a release delivering held frames) takes a fresh time, which stays.
  enterRead()
  const nested = now()
  t.true(nested > inRead)
  leaveRead()
  after(nested)
  t.is(now(), nested)
  leaveRead()
  const outside = now()
  t.true(outside > nested, 'outside a read: performance.now()')
  after(outside)
  t.true(now() > outside)
})
