/**
 * The Bolt listener's bounds on what a client can hold: a started frame must complete within
 * frameTimeoutMs (trickling does not extend it), a connection that sends nothing is closed
 * after firstByteTimeoutMs (on TLS: the handshake too), the idle timer counts only complete
 * frames, and connections are capped in total and per source address at accept (before the
 * TLS handshake). Each trip is counted in isthmus_limit_trips_total{listener="bolt"}.
 */
import test, { type ExecutionContext } from 'ava'
import { readFileSync } from 'node:fs'
import { connect as tlsConnect } from 'node:tls'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { startBoltGateway, type BoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, heartbeatFrame, requestFrame } from '../_helpers/bolt-frames.js'
import { makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'
import { limitTrips, type LimitName } from '../../gateway/metrics.js'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function eventually (pred: () => boolean, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) { if (pred()) return true; await sleep(20) }
  return pred()
}

async function gateway (t: ExecutionContext, bolt: Record<string, unknown>, tls?: Parameters<typeof startBoltGateway>[0]['tls']): Promise<BoltGateway> {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const gw = await startBoltGateway({ upstreamPort: up.port, bolt, tls }); t.teardown(() => gw.close())
  return gw
}

async function client (t: ExecutionContext, port: number): Promise<RawBoltClient> {
  const c = new RawBoltClient(port); t.teardown(() => c.close())
  await c.ready()
  return c
}

/** Write `bytes` one byte every `everyMs` until the connection closes or the bytes run out. */
async function trickle (c: RawBoltClient, bytes: Buffer, everyMs: number): Promise<void> {
  for (let i = 0; i < bytes.length && !c.closed; i++) {
    c.write(bytes.subarray(i, i + 1))
    await sleep(everyMs)
  }
}

const trips = (limit: LimitName): number => limitTrips('bolt', limit).n

test('slowloris: a frame trickled a byte at a time is closed frameTimeoutMs after its first byte', async t => {
  const gw = await gateway(t, { idleTimeoutMs: 60_000, limits: { frameTimeoutMs: 400 } })
  const before = trips('frame')
  const c = await client(t, gw.port)
  const started = Date.now()
  const frame = requestFrame({ id: 1, args: ['x'.repeat(500)] })
  void trickle(c, frame, 20) // ~11 s for the whole frame: far past the bound
  await c.until(() => c.closed, 10_000)
  t.true(Date.now() - started >= 400, 'not before its bound')
  t.true(trips('frame') > before)
  t.true(gw.logs.some(l => /partial frame not completed within frameTimeoutMs/.test(String(l.msg))))
  t.is(c.frames.length, 0)
})

test('a frame trickled slowly but completed within frameTimeoutMs is answered; the next frame gets its own window', async t => {
  const gw = await gateway(t, { idleTimeoutMs: 60_000, limits: { frameTimeoutMs: 3000 } })
  const c = await client(t, gw.port)
  const started = Date.now()
  // 22 bytes over ~0.45 s each: every frame well within the bound, all eight together past it.
  for (let id = 1; id <= 8; id++) {
    await trickle(c, heartbeatFrame(id), 20)
    await c.until(() => c.byId(id) !== undefined || c.closed, 5000)
  }
  t.true(Date.now() - started > 3000)
  t.false(c.closed)
  t.is(c.frames.length, 8)
})

test('a connection that sends nothing is closed after firstByteTimeoutMs', async t => {
  const gw = await gateway(t, { idleTimeoutMs: 60_000, limits: { firstByteTimeoutMs: 300 } })
  const before = trips('first_byte')
  const started = Date.now() // before connecting: the bound runs from the gateway's accept
  const c = await client(t, gw.port)
  await c.until(() => c.closed, 10_000)
  t.true(Date.now() - started >= 300)
  t.true(trips('first_byte') > before)
  // One that sent a heartbeat at once is not closed by that bound.
  const d = await client(t, gw.port)
  d.write(heartbeatFrame(1))
  await sleep(700)
  t.false(d.closed)
})

test('the idle timer counts only complete frames: dribbling a partial frame does not keep the connection', async t => {
  const gw = await gateway(t, { idleTimeoutMs: 300, limits: { frameTimeoutMs: 60_000 } })
  const before = trips('idle')
  const c = await client(t, gw.port)
  void trickle(c, requestFrame({ id: 1, args: ['x'.repeat(500)] }), 20)
  await c.until(() => c.closed, 10_000)
  t.true(trips('idle') > before)
  t.true(gw.logs.some(l => /idle with a partial frame/.test(String(l.msg))))
})

test('connection caps: per source address and in total, refused at accept and counted', async t => {
  const gw = await gateway(t, { limits: { maxConnectionsPerSource: 2 } })
  const beforeSrc = trips('connections_per_source')
  const a = await client(t, gw.port)
  const b = await client(t, gw.port)
  await eventually(() => gw.listener.guard.open === 2)
  const c = await client(t, gw.port)
  await c.until(() => c.closed, 10_000)
  t.true(trips('connections_per_source') > beforeSrc)
  a.write(heartbeatFrame(1)); b.write(heartbeatFrame(2))
  await a.until(() => a.frames.length === 1); await b.until(() => b.frames.length === 1)
  b.close()
  t.true(await eventually(() => gw.listener.guard.open === 1), 'a closed connection frees its slot')
  const d = await client(t, gw.port)
  d.write(heartbeatFrame(3))
  await d.until(() => d.frames.length === 1 || d.closed)
  t.is(d.frames.length, 1)

  const gw2 = await gateway(t, { limits: { maxConnections: 1 } })
  const beforeTotal = trips('connections')
  await client(t, gw2.port)
  await eventually(() => gw2.listener.guard.open === 1)
  const e = await client(t, gw2.port)
  await e.until(() => e.closed, 10_000)
  t.true(trips('connections') > beforeTotal)
})

test('TLS: the caps apply before the handshake; a silent TLS connection is closed after firstByteTimeoutMs (not left open)', async t => {
  const { dir, remove } = tempDir(); t.teardown(remove)
  const ca = await makeCa(dir, 'acme')
  const leaf = await makeLeaf(dir, ca, 'acme', { app: 'gw', server: true })
  const gw = await gateway(t, { limits: { maxConnections: 1, firstByteTimeoutMs: 400 } }, { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) })
  const beforeTotal = trips('connections')
  const beforeFirst = trips('first_byte')
  // A plain TCP connection that never starts the handshake holds the only slot...
  const silent = await client(t, gw.port)
  await eventually(() => gw.listener.guard.open === 1)
  // ...so a second one is refused at once, handshake or not.
  const refused = tlsConnect({ port: gw.port, host: '127.0.0.1', rejectUnauthorized: false })
  refused.on('error', () => {})
  t.teardown(() => refused.destroy())
  await new Promise<void>(resolve => refused.on('close', () => resolve()))
  t.true(trips('connections') > beforeTotal)
  // The silent one is closed by the handshake bound (Node alone would leave it open).
  await silent.until(() => silent.closed, 10_000)
  t.true(trips('first_byte') > beforeFirst)
  t.true(await eventually(() => gw.listener.guard.open === 0))
  // A real TLS client then gets in and is answered.
  const ok = tlsConnect({ port: gw.port, host: '127.0.0.1', rejectUnauthorized: false })
  ok.on('error', () => {})
  t.teardown(() => ok.destroy())
  await new Promise<void>(resolve => ok.once('secureConnect', () => resolve()))
  ok.write(requestFrame({ id: 5 }))
  const got = await new Promise<Buffer>(resolve => ok.once('data', (d: Buffer) => resolve(d)))
  t.is(got.readUInt32BE(5), 5)
})
