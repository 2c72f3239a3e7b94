import test from 'ava'
import { HeartbeatAction, HeartbeatSchedule } from '../../../../gateway/protocol/bolt/heartbeat.js'

test('interval doubles on acks up to max, resets on failure and request timeout', t => {
  const s = new HeartbeatSchedule({ baseMs: 15000, maxMs: 90000, timeoutMs: 1000, maxFailures: 3 })
  const seen = [s.interval]
  for (let i = 0; i < 4; i++) { s.onAck(); seen.push(s.interval) }
  t.deepEqual(seen, [15000, 30000, 60000, 90000, 90000])
  t.false(s.onHeartbeatFailure()); t.is(s.interval, 15000)
  s.onAck(); s.onRequestTimeout(); t.is(s.interval, 15000)
  t.false(s.onHeartbeatFailure()); t.false(s.onHeartbeatFailure()); t.true(s.onHeartbeatFailure())
})

test('a business response within the interval skips the heartbeat', t => {
  const s = new HeartbeatSchedule({ baseMs: 100, maxMs: 600, timeoutMs: 50, maxFailures: 3 })
  s.onResponse(1000)
  t.is(s.due(1050), HeartbeatAction.Skip)
  t.is(s.due(1200), HeartbeatAction.Send)
})
