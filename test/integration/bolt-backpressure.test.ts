/**
 * Backpressure on the Bolt path: a client that does not read its responses, and an upstream
 * that does not read its requests. The gateway must stop reading the side that feeds the
 * full socket (and resume on 'drain'), so what it buffers stays bounded, and every call
 * completes once the slow side reads again.
 */
import test, { type ExecutionContext } from 'ava'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, readResponse, requestFrame } from '../_helpers/bolt-frames.js'
import type { BoltConnection } from '../../gateway/upstream/bolt-connection.js'
import type { BoltGateway } from '../_helpers/bolt-gateway.js'

const MiB = 1024 * 1024
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Poll `pred` every 20 ms up to `ms` (a generous bound: under load the bytes take longer); whether it became true. */
async function eventually (pred: () => boolean, ms = 40000): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) { if (pred()) return true; await sleep(20) }
  return pred()
}

async function gateway (t: ExecutionContext, upstreamPort: number) {
  const gw = await startBoltGateway({
    upstreamPort,
    // Room for every request in flight: this test is about bytes, not the in-flight cap.
    clusterExtra: { upstream: { maxConnections: 2, maxConcurrentStreams: 1000 } },
    routeExtra: { timeoutMs: 60_000 },
  })
  t.teardown(() => gw.close())
  return gw
}

test('a client that reads no responses: the gateway stops reading the upstream; bounded buffer; all answered after', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.record = false
  up.responseValue = 'r'.repeat(64 * 1024) // ~64 KiB per response
  const gw = await gateway(t, up.port)
  const client = new RawBoltClient(gw.port); t.teardown(() => client.close())
  await client.ready()
  client.socket.pause() // the slow reader
  const N = 600 // ~38 MiB of responses
  for (let i = 1; i <= N; i++) client.write(requestFrame({ id: i, timeout: 60_000 }))

  const down = () => [...gw.listener.connections][0]
  const held = await eventually(() => poolConns(gw, up.port).some(c => c.readHeld))
  t.true(held, 'the upstream connection is not read while the client is full')
  await sleep(300) // let whatever is in flight settle
  const buffered = down()?.socket.writableLength ?? 0
  t.log(`gateway buffered ${(buffered / MiB).toFixed(2)} MiB for the slow client; upstream got ${up.received} requests`)
  t.true(buffered < 2 * MiB, `bounded: ${buffered} bytes`)

  client.socket.resume()
  await client.until(() => client.frames.length >= N, 45_000)
  const ids = new Set(client.frames.map(f => f.requestId))
  t.is(ids.size, N)
  t.is(client.frames.filter(f => f.status !== 0).length, 0)
  t.is((readResponse(client.frames[N - 1].buf).value as string).length, 64 * 1024)
  t.false(poolConns(gw, up.port).some(c => c.readHeld), 'released on drain')
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

function poolConns (gw: BoltGateway, port: number): BoltConnection[] {
  return gw.pools.peek(`127.0.0.1:${port}`)?.conns ?? []
}

test('a client that never reads is closed after the stall bound; a client sharing its upstream connection then completes', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.record = false
  up.responseValue = 'r'.repeat(64 * 1024)
  const gw = await startBoltGateway({
    upstreamPort: up.port,
    bolt: { idleTimeoutMs: 1500 }, // the stall bound is min(idleTimeoutMs, 10 s)
    clusterExtra: { upstream: { maxConnections: 1, maxConcurrentStreams: 1000 } }, // both share one upstream connection
    routeExtra: { timeoutMs: 60_000 },
  })
  t.teardown(() => gw.close())
  const stuck = new RawBoltClient(gw.port); t.teardown(() => stuck.close())
  await stuck.ready()
  stuck.socket.pause()
  for (let i = 1; i <= 600; i++) stuck.write(requestFrame({ id: i, timeout: 60_000 }))
  // The shared upstream is held by the stuck client until the stall bound closes it; on a busy
  // machine the close may come before this poll sees the hold, so either state will do here.
  const stuckGone = (): boolean => gw.logs.some(l => l.msg === 'bolt client reads no responses, closing')
  t.true(await eventually(() => poolConns(gw, up.port).some(c => c.readHeld) || stuckGone(), 90000), 'the shared upstream is held by the stuck client')
  const healthy = new RawBoltClient(gw.port); t.teardown(() => healthy.close())
  await healthy.ready()
  for (let i = 1; i <= 20; i++) healthy.write(requestFrame({ id: i, timeout: 60_000 }))
  await healthy.until(() => healthy.frames.length >= 20, 45_000)
  t.is(healthy.frames.filter(f => f.status === 0).length, 20)
  t.true(gw.logs.some(l => l.msg === 'bolt client reads no responses, closing'))
  t.is(gw.listener.connections.size, 1) // only the healthy client is left
  t.is(poolConns(gw, up.port).length, 1)
})
