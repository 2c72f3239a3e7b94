/**
 * Upstream Bolt heartbeats against a real SOFA peer: a sofa-rpc-node RpcServer (its own
 * sofa-bolt-node decoder and heartbeat ack), with a tap that records each heartbeat and can
 * make the server stop answering. Every assertion waits on events (heartbeats, a close) or
 * bounds time from below: a busy machine only stretches the gaps.
 */
import test from 'ava'
import { Host } from '../../../gateway/cluster/host.js'
import type { ClusterOptions } from '../../../gateway/config/options.js'
import { BoltPool, reconnectDelay } from '../../../gateway/upstream/bolt-pool.js'
import { patchRequestId } from '../../../gateway/protocol/bolt/encoder.js'
import { startSofaServer, type HeartbeatTap } from '../../_peers/sofa-rpc.js'
import { requestFrame } from '../../_helpers/bolt-frames.js'

function clusterOptions (port: number, hb: { baseMs: number, maxMs: number, timeoutMs: number, maxFailures: number }): ClusterOptions {
  return {
    name: 'c', protocol: 'bolt', lb: { policy: 'round-robin' }, hosts: [{ address: '127.0.0.1', port }],
    subsetFallback: { policy: 'none' }, healthCheck: { intervalMs: 0, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 1 },
    outlier: { consecutiveFailures: 3, ejectMs: 1000 },
    upstream: { connectTimeoutMs: 1000, maxConcurrentStreams: 100, maxConnections: 1, maxRequestsPerConnection: 0, maxPending: 1024, pendingTimeoutMs: 1000, heartbeat: hb },
  }
}

async function peer (t: import('ava').ExecutionContext): Promise<{ port: number, tap: HeartbeatTap }> {
  const tap: HeartbeatTap = { received: [], answer: true }
  const p = await startSofaServer({ heartbeats: tap })
  t.teardown(() => p.close())
  return { port: p.port, tap }
}

/** Resolves once the tap has seen `n` heartbeats in all (generous bound: not a timing assertion). */
function heartbeats (tap: HeartbeatTap, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${tap.received.length} of ${n} heartbeats`)), 45000)
    const check = (): void => { if (tap.received.length >= n) { clearTimeout(timer); tap.onHeartbeat = undefined; resolve() } }
    tap.onHeartbeat = check
    check()
  })
}

test('idle connection: each acked heartbeat doubles the interval up to maxMs (sofa-rpc-node server)', async t => {
  const { port, tap } = await peer(t)
  const base = 80
  const max = base * 8
  const pool = new BoltPool(new Host({ address: '127.0.0.1', port }), clusterOptions(port, { baseMs: base, maxMs: max, timeoutMs: 1000, maxFailures: 3 }), null, null)
  t.teardown(() => pool.destroy())
  pool.acquire()
  await heartbeats(tap, 7)
  const r = tap.received
  const gaps = r.slice(1).map((x, i) => x - r[i])
  t.log(`gaps between heartbeats (base ${base}, max ${max}): ${gaps.join(', ')} ms`)
  // Expected 2b, 4b, 8b, 8b, 8b, 8b after the first. Lower bounds with room for one
  // heartbeat delayed in transit: a fixed-interval schedule gives ~1b each and fails here.
  const expected = gaps.map((_, i) => Math.min(base * 2 ** (i + 1), max))
  gaps.forEach((g, i) => t.true(g >= expected[i] * 0.6, `gap ${i + 1}: ${g} ms, expected about ${expected[i]}`))
  t.true(gaps.slice(3).every(g => g >= max * 0.6), 'capped at maxMs')
})

test('the server stops answering: after maxFailures unanswered heartbeats the connection is closed', async t => {
  const { port, tap } = await peer(t)
  const base = 60
  const pool = new BoltPool(new Host({ address: '127.0.0.1', port }), clusterOptions(port, { baseMs: base, maxMs: base * 6, timeoutMs: 100, maxFailures: 3 }), null, null)
  t.teardown(() => pool.destroy())
  const conn = pool.acquire()!
  await heartbeats(tap, 3) // a few acks: the interval has grown
  tap.answer = false
  const silentFrom = tap.received.length
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connection not closed')), 45000)
    conn.socket.once('close', () => { clearTimeout(timer); resolve() })
  })
  // Exactly maxFailures heartbeats went unanswered; none after the third.
  t.is(tap.received.length - silentFrom, 3)
  t.true(conn.closed)
  t.is(pool.conns.length, 0)
})

test('business responses within the interval suppress heartbeats', async t => {
  const { port, tap } = await peer(t)
  const base = 300
  const pool = new BoltPool(new Host({ address: '127.0.0.1', port }), clusterOptions(port, { baseMs: base, maxMs: base * 6, timeoutMs: 1000, maxFailures: 3 }), null, null)
  t.teardown(() => pool.destroy())
  const conn = pool.acquire()!
  // Closed loop: the next request leaves when the previous answer arrived, for 8 base intervals.
  const gaps: number[] = []
  let answered = 0
  let last = 0
  let before = -1
  await new Promise<void>((resolve) => {
    const send = (): void => {
      const id = conn.takeId()
      const f = requestFrame({ id: 1 }); patchRequestId(f, id, false)
      conn.send(ex, id, f, Infinity)
    }
    const ex = {
      onUpstreamResponse () {
        const now = Date.now()
        if (answered === 0) { before = tap.received.length; last = now }
        answered++
        gaps.push(now - last)
        last = now
        if (answered > 1 && now - started >= 8 * base) { resolve(); return }
        setTimeout(send, 2)
      },
      onUpstreamFailure () {},
    }
    const started = Date.now()
    send()
  })
  t.true(answered > 20)
  // A heartbeat is allowed only where the traffic itself paused for a whole interval.
  const pauses = gaps.filter(g => g >= base).length
  t.log(`${answered} answers, longest gap ${Math.max(...gaps)} ms, heartbeats ${tap.received.length - before}`)
  t.true(tap.received.length - before <= pauses, `${tap.received.length - before} heartbeats while answers kept coming`)
})

test('reconnect back-off: random 0-1 s, then 1, 2, 5, 10 s', t => {
  t.is(reconnectDelay(0), 0)
  t.is(reconnectDelay(1, () => 0.5), 500)
  t.deepEqual([2, 3, 4, 5, 6, 9].map(n => reconnectDelay(n)), [1000, 2000, 5000, 10000, 10000, 10000])
})
