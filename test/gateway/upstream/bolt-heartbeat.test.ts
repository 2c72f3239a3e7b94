import test from 'ava'
import { performance } from 'node:perf_hooks'
import { Host } from '../../../gateway/cluster/host.js'
import type { ClusterOptions } from '../../../gateway/config/options.js'
import { BoltPool, reconnectDelay } from '../../../gateway/upstream/bolt-pool.js'
import { patchRequestId } from '../../../gateway/protocol/bolt/encoder.js'
import { startRawUpstream } from '../../_peers/raw-bolt-upstream.js'
import { requestFrame } from '../../_helpers/bolt-frames.js'

function clusterOptions (port: number, hb: { baseMs: number, maxMs: number, timeoutMs: number, maxFailures: number }): ClusterOptions {
  return {
    name: 'c', protocol: 'bolt', lb: { policy: 'round-robin' }, hosts: [{ address: '127.0.0.1', port }],
    subsetFallback: { policy: 'none' }, healthCheck: { intervalMs: 0, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 1 },
    outlier: { consecutiveFailures: 3, ejectMs: 1000 },
    upstream: { connectTimeoutMs: 1000, maxConcurrentStreams: 100, maxConnections: 1, maxRequestsPerConnection: 0, maxPending: 1024, pendingTimeoutMs: 1000, heartbeat: hb },
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

test('idle connection: heartbeats back off to at most 25% of a fixed-interval schedule', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const base = 20
  const pool = new BoltPool(new Host({ address: '127.0.0.1', port: up.port }), clusterOptions(up.port, { baseMs: base, maxMs: base * 6, timeoutMs: 15, maxFailures: 3 }), null, null)
  t.teardown(() => pool.destroy())
  pool.acquire()
  const idleMs = 2400
  await sleep(idleMs)
  const fixed = idleMs / base
  t.log(`heartbeats ${up.heartbeats.length} vs fixed schedule ${fixed}`)
  t.true(up.heartbeats.length >= 3)
  t.true(up.heartbeats.length <= fixed * 0.25)
})

test('upstream stops answering: connection declared dead within 3 base intervals', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const base = 60
  const pool = new BoltPool(new Host({ address: '127.0.0.1', port: up.port }), clusterOptions(up.port, { baseMs: base, maxMs: base * 6, timeoutMs: 30, maxFailures: 3 }), null, null)
  t.teardown(() => pool.destroy())
  const conn = pool.acquire()!
  await sleep(base * 4) // a few acks: the interval has grown
  up.answerHeartbeats = false
  const silentFrom = up.heartbeats.length
  const closedAt = await new Promise<number>(resolve => conn.socket.once('close', () => resolve(Date.now())))
  const firstUnanswered = up.heartbeats[silentFrom]
  t.log(`dead ${closedAt - firstUnanswered} ms after the first unanswered heartbeat (base ${base})`)
  t.true(closedAt - firstUnanswered <= 3 * base + 20)
  t.true(conn.closed)
  t.is(pool.conns.length, 0)
})

test('traffic suppresses heartbeats', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  // Base well above the request spacing, so a loaded machine cannot stretch a gap past it.
  const base = 150
  const pool = new BoltPool(new Host({ address: '127.0.0.1', port: up.port }), clusterOptions(up.port, { baseMs: base, maxMs: base * 6, timeoutMs: 30, maxFailures: 3 }), null, null)
  t.teardown(() => pool.destroy())
  const conn = pool.acquire()!
  let answered = 0
  const ex = { onUpstreamResponse () { answered++ }, onUpstreamFailure () {} }
  const send = (): void => {
    const id = conn.takeId()
    const f = requestFrame({ id: 1 }); patchRequestId(f, id, false)
    conn.send(ex, id, f, Infinity)
  }
  send()
  while (answered === 0) await sleep(2)
  const before = up.heartbeats.length // a heartbeat may precede the first response on a slow start
  const end = performance.now() + base * 6
  while (performance.now() < end) { send(); await sleep(5) }
  t.true(answered > 20)
  t.is(up.heartbeats.length, before)
})

test('reconnect back-off: random 0-1 s, then 1, 2, 5, 10 s', t => {
  t.is(reconnectDelay(0), 0)
  t.is(reconnectDelay(1, () => 0.5), 500)
  t.deepEqual([2, 3, 4, 5, 6, 9].map(n => reconnectDelay(n)), [1000, 2000, 5000, 10000, 10000, 10000])
})
