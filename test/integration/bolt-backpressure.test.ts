/**
 * Backpressure on the Bolt path, and what one client can do to the others.
 * - A client that does not read its responses is closed once more than
 *   maxBufferedBytesPerClient wait for it (after one last ISTH_ERR_BOLT_SLOW_READER frame),
 *   or once it takes nothing for writeStallMs; the upstream connection it shares with others
 *   is never paused for it.
 * - An upstream that does not read its requests pauses the clients feeding it (bounded
 *   buffer), and every call completes once it reads again.
 * - A client flooding requests is not read past maxInflightPerConnection calls in flight, so
 *   it cannot take every upstream slot from the others.
 */
import test, { type ExecutionContext } from 'ava'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE, TEST_VERSION } from '../_peers/sofa-rpc.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, readResponse, requestFrame } from '../_helpers/bolt-frames.js'
import { BoltStatus } from '../../gateway/errors.js'
import { limitTrips } from '../../gateway/metrics.js'
import type { BoltConnection } from '../../gateway/upstream/bolt-connection.js'
import type { BoltGateway } from '../_helpers/bolt-gateway.js'

const MiB = 1024 * 1024
const SVC = `${TEST_SERVICE}:${TEST_VERSION}`
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Poll `pred` every 20 ms up to `ms` (a generous bound: under load the bytes take longer); whether it became true. */
async function eventually (pred: () => boolean, ms = 40000): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) { if (pred()) return true; await sleep(20) }
  return pred()
}

function poolConns (gw: BoltGateway, port: number): BoltConnection[] {
  return gw.pools.peek(`127.0.0.1:${port}`)?.conns ?? []
}

/** Sample every 10 ms whether any upstream connection is paused, until stop() is called. */
function watchUpstreamPauses (gw: BoltGateway, port: number): { stop (): number } {
  let paused = 0
  const t = setInterval(() => { if (poolConns(gw, port).some(c => c.socket.isPaused())) paused++ }, 10)
  return { stop () { clearInterval(t); return paused } }
}

async function gateway (t: ExecutionContext, upstreamPort: number, bolt: Record<string, unknown> = {}, maxConnections = 2) {
  const gw = await startBoltGateway({
    upstreamPort,
    bolt: { limits: bolt },
    // Room for every request in flight: this test is about bytes, not the in-flight cap.
    clusterExtra: { upstream: { maxConnections, maxConcurrentStreams: 1000 } },
    routeExtra: { timeoutMs: 60_000 },
  })
  t.teardown(() => gw.close())
  return gw
}

test('a client that reads no responses is closed past maxBufferedBytesPerClient after one last SLOW_READER frame; its upstream is never paused', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.record = false
  up.responseValue = 'r'.repeat(64 * 1024) // ~64 KiB per response
  const gw = await gateway(t, up.port, { maxBufferedBytesPerClient: MiB })
  const trips = limitTrips('bolt', 'buffered_bytes').n
  const client = new RawBoltClient(gw.port); t.teardown(() => client.close())
  await client.ready()
  client.socket.pause() // the slow reader
  const watch = watchUpstreamPauses(gw, up.port)
  const N = 600 // ~38 MiB of responses
  for (let i = 1; i <= N; i++) client.write(requestFrame({ id: i, timeout: 60_000 }))
  t.true(await eventually(() => gw.logs.some(l => /maxBufferedBytesPerClient/.test(String(l.msg))), 20_000), 'closed for its buffered bytes')
  client.socket.resume() // read what was left for it
  await client.until(() => client.closed, 20_000)
  t.is(watch.stop(), 0, 'no upstream connection was paused for the slow client')
  t.true(client.frames.length < N)
  const last = client.frames[client.frames.length - 1]
  t.is(last.status, BoltStatus.SERVER_THREADPOOL_BUSY)
  t.regex(readResponse(last.buf).error ?? '', /ISTH_ERR_BOLT_SLOW_READER/)
  t.is(client.frames.slice(0, -1).filter(f => f.status !== 0).length, 0, 'everything before it is a real response')
  t.true(limitTrips('bolt', 'buffered_bytes').n > trips)
  // Its calls were forgotten upstream; the host is not blamed.
  const host = gw.snapshot.current.clusters.get('up')!.hosts[0]
  t.true(await eventually(() => host.active === 0 && poolConns(gw, up.port).every(c => c.inflight === 0), 20_000))
  t.is(host.consecutiveFailures, 0)
})

test('an upstream that reads no requests: the gateway stops reading the clients feeding it; bounded buffer; all answered after', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.record = false
  up.startPaused = true // the slow reader
  const gw = await gateway(t, up.port)
  const big = 'q'.repeat(256 * 1024)
  const clients = await Promise.all([0, 1, 2, 3].map(async () => {
    const c = new RawBoltClient(gw.port); t.teardown(() => c.close())
    await c.ready()
    return c
  }))
  const PER = 40 // 4 x 40 x 256 KiB = 40 MiB of requests
  for (const c of clients) for (let i = 1; i <= PER; i++) c.write(requestFrame({ id: i, timeout: 60_000, args: [big] }))

  const downs = () => [...gw.listener.connections]
  const paused = await eventually(() => downs().length === 4 && downs().every(d => d.socket.isPaused()))
  t.true(paused, 'every client feeding the full upstream is not read')
  await sleep(300)
  let buffered = 0
  for (const c of poolConns(gw, up.port)) buffered += c.socket.writableLength
  t.log(`gateway buffered ${(buffered / MiB).toFixed(2)} MiB towards the slow upstream`)
  t.true(buffered < 4 * MiB, `bounded: ${buffered} bytes`)

  up.resumeReading()
  for (const c of clients) await c.until(() => c.frames.length >= PER, 45_000)
  for (const c of clients) t.is(c.frames.filter(f => f.status === 0).length, PER)
  t.is(up.received, 4 * PER)
  t.false(downs().some(d => d.socket.isPaused()), 'clients read again after drain')
})

test('a client that never reads does not stall a client sharing its upstream connection', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.record = false
  up.responseValue = 'r'.repeat(64 * 1024)
  // Neither bound trips during the test: the stuck client stays connected while the other works.
  const gw = await gateway(t, up.port, { maxBufferedBytesPerClient: 256 * MiB, writeStallMs: 120_000 }, 1)
  const stuck = new RawBoltClient(gw.port); t.teardown(() => stuck.close())
  await stuck.ready()
  stuck.socket.pause()
  const watch = watchUpstreamPauses(gw, up.port)
  for (let i = 1; i <= 600; i++) stuck.write(requestFrame({ id: i, timeout: 60_000 }))
  t.true(await eventually(() => [...gw.listener.connections].some(c => c.socket.writableNeedDrain), 20_000), 'responses pile up for the stuck client')
  const healthy = new RawBoltClient(gw.port); t.teardown(() => healthy.close())
  await healthy.ready()
  for (let i = 1; i <= 20; i++) healthy.write(requestFrame({ id: i, timeout: 60_000 }))
  await healthy.until(() => healthy.frames.length >= 20, 45_000)
  t.is(healthy.frames.filter(f => f.status === 0).length, 20)
  // (The stuck client reads nothing, so it would not notice a close: ask the gateway.)
  t.is(gw.listener.connections.size, 2, 'the healthy client did not have to wait for the stuck one to go')
  t.is(watch.stop(), 0, 'the shared upstream connection was never paused')
  t.is(poolConns(gw, up.port).length, 1)
})

test('writeStallMs: a client that takes no response bytes for that long is closed (counted as write_stall)', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.record = false
  up.responseValue = 'r'.repeat(64 * 1024)
  const gw = await gateway(t, up.port, { maxBufferedBytesPerClient: 256 * MiB, writeStallMs: 500 })
  const trips = limitTrips('bolt', 'write_stall').n
  const stuck = new RawBoltClient(gw.port); t.teardown(() => stuck.close())
  await stuck.ready()
  stuck.socket.pause()
  const started = Date.now()
  for (let i = 1; i <= 600; i++) stuck.write(requestFrame({ id: i, timeout: 60_000 }))
  // A client that reads nothing does not see the close either: watch the gateway's side.
  t.true(await eventually(() => limitTrips('bolt', 'write_stall').n > trips, 30_000), 'closed for its write stall')
  t.true(Date.now() - started >= 500, 'not before its bound')
  t.true(gw.logs.some(l => /writeStallMs/.test(String(l.msg))))
  t.true(await eventually(() => gw.listener.connections.size === 0))
})

test('one client flooding slow requests cannot take every upstream slot: a healthy client sharing the host sees no error', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  // 300 slots for the host; the flooder alone may hold maxInflightPerConnection (default 256).
  const gw = await startBoltGateway({ upstreamPort: peer.port, clusterExtra: { upstream: { maxConnections: 1, maxConcurrentStreams: 300 } }, routeExtra: { timeoutMs: 60_000 } })
  t.teardown(() => gw.close())
  const trips = limitTrips('bolt', 'streams').n
  const flood = new RawBoltClient(gw.port); t.teardown(() => flood.close())
  await flood.ready()
  // More slow calls than the host has slots, all at once: without a per-connection cap the
  // flooder holds every slot for 3 s and everyone else gets OVERLOADED.
  const N = 400
  const frames: Buffer[] = []
  for (let i = 1; i <= N; i++) frames.push(requestFrame({ id: i, service: SVC, method: 'slow', args: [3000], timeout: 60_000 }))
  flood.write(Buffer.concat(frames)) // one write: the gateway reads many frames at once
  t.true(await eventually(() => limitTrips('bolt', 'streams').n > trips, 10_000), 'the flooder hit its in-flight cap')
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.port)
  const results = await Promise.allSettled(Array.from({ length: 20 }, async (_, i) => c.invoke('plus', [i, 1], { responseTimeout: 30_000 })))
  t.deepEqual(results.map(r => r.status === 'fulfilled' ? r.value : (r.reason as Error).message), Array.from({ length: 20 }, (_, i) => i + 1))
  await flood.until(() => flood.frames.length >= N, 60_000)
  t.is(flood.frames.filter(f => f.status !== 0).length, 0, 'the flooder is slowed down, not failed')
})

test('a client that goes away: its calls are forgotten upstream (slot freed) and never count against the host', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port, clusterExtra: { outlier: { consecutiveFailures: 2, ejectMs: 60_000 } }, routeExtra: { timeoutMs: 60_000 } })
  t.teardown(() => gw.close())
  const host = gw.snapshot.current.clusters.get('up')!.hosts[0]
  const gone = new RawBoltClient(gw.port)
  await gone.ready()
  for (let i = 1; i <= 50; i++) gone.write(requestFrame({ id: i, service: SVC, method: 'slow', args: [60_000], timeout: 60_000 }))
  t.true(await eventually(() => host.active === 50, 10_000))
  gone.close()
  // Long before the upstream answers (60 s), the gateway has let go of all 50.
  t.true(await eventually(() => host.active === 0 && poolConns(gw, peer.port).every(c => c.inflight === 0), 10_000))
  t.is(host.consecutiveFailures, 0)
  const client = sofaClient(); t.teardown(() => client.close())
  t.is(await (await sofaConsumer(client, gw.port)).invoke('plus', [1, 2]), 3)
})

test('upstream timeouts do not eject the host (a slow host is not a dead one; the deadline may be the caller\'s)', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port, clusterExtra: { outlier: { consecutiveFailures: 2, ejectMs: 60_000 } }, routeExtra: { timeoutMs: 60_000 } })
  t.teardown(() => gw.close())
  const raw = new RawBoltClient(gw.port); t.teardown(() => raw.close())
  await raw.ready()
  for (let i = 1; i <= 5; i++) raw.write(requestFrame({ id: i, service: SVC, method: 'slow', args: [2000], timeout: 50 }))
  await raw.until(() => raw.frames.length >= 5, 20_000)
  t.true(raw.frames.every(f => f.status === BoltStatus.TIMEOUT))
  const client = sofaClient(); t.teardown(() => client.close())
  t.is(await (await sofaConsumer(client, gw.port)).invoke('plus', [2, 3]), 5)
})
