/**
 * Connection caps on the Triple listener (`limits.maxConnections`, `maxConnectionsPerSource`):
 * enforced at raw accept, before any read or TLS handshake; a refused connection is closed at
 * once and counted; the connection gauge stays exact.
 */
import test from 'ava'
import net from 'node:net'
import { startEchoServer, echoClient, unary } from '../_peers/grpc-echo.js'
import { tripleConfig } from '../_helpers/gateway.js'
import { makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'
import { eventually, sleep, spawnTriple, type SpawnedTriple } from '../_helpers/spawned-triple.js'

const TRIPLE = { listener: 'triple' }

function capped (port: number, limits: Record<string, unknown>, tls?: Record<string, unknown>): Record<string, unknown> {
  const cfg = tripleConfig([port])
  const triple = (cfg.listeners as { triple: Record<string, unknown> }).triple
  triple.limits = limits
  if (tls !== undefined) triple.tls = tls
  return cfg
}

interface Probe { socket: net.Socket, closed: Promise<void>, isClosed: () => boolean }
async function open (port: number, localAddress = '127.0.0.1'): Promise<Probe> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  let closed = false
  const p = new Promise<void>(resolve => socket.on('close', () => { closed = true; resolve() }))
  await new Promise<void>(resolve => socket.once('connect', () => resolve()))
  return { socket, closed: p, isClosed: () => closed }
}

const trips = (gw: SpawnedTriple, limit: string): Promise<number> => gw.metric('isthmus_limit_trips_total', { listener: 'triple', limit })

test('per-source and total connection caps: the connection past a cap is closed at once and counted', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const gw = await spawnTriple(t, capped(up.port, { maxConnections: 5, maxConnectionsPerSource: 3 }))
  const a = await Promise.all([open(gw.port), open(gw.port), open(gw.port)])
  t.teardown(() => { for (const p of a) p.socket.destroy() })
  const fourth = await open(gw.port)
  await fourth.closed
  t.is(await trips(gw, 'connections_per_source'), 1)
  // Another source address has its own allowance, up to the listener's total.
  const b = await Promise.all([open(gw.port, '127.0.0.2'), open(gw.port, '127.0.0.2')])
  t.teardown(() => { for (const p of b) p.socket.destroy() })
  const sixth = await open(gw.port, '127.0.0.2')
  await sixth.closed
  t.is(await trips(gw, 'connections'), 1)
  await sleep(100)
  t.false([...a, ...b].some(p => p.isClosed()), 'admitted connections stay open')
  t.is(await gw.metric('isthmus_downstream_connections', TRIPLE), 5)
  for (const p of [...a, ...b]) p.socket.destroy()
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
  // Room again.
  const client = echoClient(gw.port)
  t.teardown(() => client.close())
  t.is((await unary(client, { message: 'in' })).reply.message, 'in')
})

test('TLS: the cap applies to the raw TCP connection, before any handshake', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'bank')
  const server = await makeLeaf(tmp.dir, ca, 'bank', { app: 'gateway', server: true })
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const gw = await spawnTriple(t, capped(up.port, { maxConnections: 2 }, { cert: server.cert, key: server.key, ca: server.ca }))
  const a = await Promise.all([open(gw.port), open(gw.port)])
  t.teardown(() => { for (const p of a) p.socket.destroy() })
  const third = await open(gw.port)
  let got = 0
  third.socket.on('data', (c: Buffer) => { got += c.length })
  third.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05])) // the start of a ClientHello
  await third.closed
  t.is(got, 0, 'no handshake bytes for a refused connection')
  t.is(await trips(gw, 'connections'), 1)
  t.is(await gw.metric('isthmus_downstream_connections', TRIPLE), 2)
})
