/**
 * How an upstream Bolt connection batches its writes (against a real sofa-rpc-node server):
 * small frames from several downstream reads of one event-loop turn leave in one writev, a big
 * batch leaves at the end of the read that made it. Writes are counted at the socket's
 * _write/_writev (one each per syscall); "separate reads" are separate process ticks.
 */
import test, { type ExecutionContext } from 'ava'
import type { Socket } from 'node:net'
import { Host } from '../../../gateway/cluster/host.js'
import type { ClusterOptions } from '../../../gateway/config/options.js'
import { BoltPool } from '../../../gateway/upstream/bolt-pool.js'
import type { BoltConnection, BoltExchange } from '../../../gateway/upstream/bolt-connection.js'
import { patchRequestId } from '../../../gateway/protocol/bolt/encoder.js'
import { startSofaServer } from '../../_peers/sofa-rpc.js'
import { requestFrame } from '../../_helpers/bolt-frames.js'

function clusterOptions (port: number): ClusterOptions {
  return {
    name: 'c', protocol: 'bolt', lb: { policy: 'round-robin' }, hosts: [{ address: '127.0.0.1', port }],
    subsetFallback: { policy: 'none' }, healthCheck: { intervalMs: 0, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 1 },
    outlier: { consecutiveFailures: 3, ejectMs: 1000 },
    upstream: { connectTimeoutMs: 5000, maxConcurrentStreams: 100, maxConnections: 1, maxRequestsPerConnection: 0, maxPending: 1024, pendingTimeoutMs: 5000, heartbeat: { baseMs: 60000, maxMs: 60000, timeoutMs: 5000, maxFailures: 3 } },
  }
}

interface Writes { calls: number[] }

/** A connected upstream connection whose socket writes are counted (chunks per write call). */
async function connection (t: ExecutionContext): Promise<{ conn: BoltConnection, writes: Writes }> {
  const peer = await startSofaServer()
  t.teardown(() => peer.close())
  const pool = new BoltPool(new Host({ address: '127.0.0.1', port: peer.port }), clusterOptions(peer.port), null, null)
  t.teardown(() => pool.destroy())
  const conn = pool.acquire()!
  if (!conn.connected) await new Promise<void>((resolve, reject) => { conn.socket.once('connect', () => resolve()); conn.socket.once('close', () => reject(new Error('connect failed'))) })
  const writes: Writes = { calls: [] }
  const s = conn.socket as Socket & { _write: (...a: unknown[]) => void, _writev: (...a: unknown[]) => void }
  const write = s._write.bind(s)
  const writev = s._writev.bind(s)
  s._write = (...a: unknown[]) => { writes.calls.push(1); write(...a) }
  s._writev = (...a: unknown[]) => { writes.calls.push((a[0] as unknown[]).length); writev(...a) }
  return { conn, writes }
}

/** Sends one request; resolves when its response (any status) or failure arrives. */
function send (conn: BoltConnection, answered: Array<Promise<void>>): void {
  const id = conn.takeId()
  const f = requestFrame({ id: 1 })
  patchRequestId(f, id, false)
  answered.push(new Promise<void>((resolve, reject) => {
    const ex: BoltExchange = { onUpstreamResponse: () => resolve(), onUpstreamFailure: (k) => reject(new Error(`upstream failure ${k}`)) }
    conn.send(ex, id, f, Infinity)
  }))
}

const nextTick = (): Promise<void> => new Promise(resolve => process.nextTick(resolve))

test('one small frame from each of three reads in one event-loop turn: one writev of three frames', async t => {
  const { conn, writes } = await connection(t)
  const answered: Array<Promise<void>> = []
  send(conn, answered)
  await nextTick() // the first read's end (its nextTick) has run: the batch is small, it waits
  send(conn, answered)
  await nextTick()
  send(conn, answered)
  await Promise.all(answered)
  t.deepEqual(writes.calls, [3], 'three frames, one write')
})

test('a batch of 4 KB or more leaves at the end of its read, not at the end of the turn', async t => {
  const { conn, writes } = await connection(t)
  const answered: Array<Promise<void>> = []
  const frame = requestFrame({ id: 1 }).length
  const n = Math.ceil(4096 / frame)
  let beforeTurnEnd: number[] = []
  // Queued before the sends: runs before any setImmediate they schedule.
  const turnEnd = new Promise<void>(resolve => setImmediate(() => { beforeTurnEnd = [...writes.calls]; resolve() }))
  for (let i = 0; i < n; i++) send(conn, answered)
  await turnEnd
  await Promise.all(answered)
  t.deepEqual(beforeTurnEnd, [n], `${n} frames of ${frame} bytes written before the turn ended`)
})

test('a batch never grows past the socket high-water mark while corked (write() would pause the clients)', async t => {
  const { conn, writes } = await connection(t)
  const answered: Array<Promise<void>> = []
  const frame = requestFrame({ id: 1 }).length
  const perWrite = Math.floor(conn.socket.writableHighWaterMark / frame)
  const n = perWrite * 3
  for (let i = 0; i < n; i++) send(conn, answered)
  await Promise.all(answered)
  t.log(writes.calls.join(','))
  t.is(writes.calls.reduce((a, b) => a + b, 0), n)
  t.true(writes.calls.length >= 3, `${writes.calls.length} writes`)
  t.true(writes.calls.every(c => c <= perWrite), `frames per write ${writes.calls.join(',')}, at most ${perWrite}`)
})
