/**
 * Slowloris on the Triple port (issue 9, item 7): silent connections (plain and TLS), an
 * HTTP/2 preface trickled byte by byte, HTTP/1.1 headers and bodies trickled, idle HTTP/2
 * sessions. Each is closed by its bound (never before it: only lower bounds are asserted),
 * the trip is counted, and the connection gauge returns to zero. The compiled CLI runs each
 * gateway so the metrics are its own.
 */
import test from 'ava'
import http2 from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import { readFileSync } from 'node:fs'
import { grpcFrame, startRawH2 } from '../_peers/raw-h2.js'
import * as F from '../_peers/h2-frames.js'
import { tripleConfig } from '../_helpers/gateway.js'
import { makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'
import { eventually, spawnTriple, type SpawnedTriple } from '../_helpers/spawned-triple.js'

const TRIPLE = { listener: 'triple' }
const trips = (gw: SpawnedTriple, limit: string): Promise<number> => gw.metric('isthmus_limit_trips_total', { listener: 'triple', limit })

async function upstream (t: import('ava').ExecutionContext): Promise<number> {
  const up = await startRawH2((stream) => {
    if (stream.destroyed) return // the gateway cancelled it (a trickled request it timed out)
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(grpcFrame(Buffer.from('ok')))
  })
  t.teardown(() => up.close())
  return up.port
}

function withLimits (port: number, limits: Record<string, unknown>, tlsOpts?: Record<string, unknown>): Record<string, unknown> {
  const cfg = tripleConfig([port])
  const triple = (cfg.listeners as { triple: Record<string, unknown> }).triple
  triple.limits = limits
  if (tlsOpts !== undefined) triple.tls = tlsOpts
  return cfg
}

/** Write `bytes` one byte every `ms` until the socket closes. */
function trickle (socket: net.Socket, bytes: Buffer, ms: number): void {
  let i = 0
  const timer = setInterval(() => {
    if (socket.destroyed || i >= bytes.length) { clearInterval(timer); return }
    socket.write(bytes.subarray(i, ++i))
  }, ms)
  socket.on('close', () => clearInterval(timer))
}

async function closedAfter (c: F.RawConn, from: number): Promise<number> {
  await c.closed
  return Date.now() - from
}

test('silent TCP on the plain port is closed at firstByteTimeoutMs', async (t) => {
  const gw = await spawnTriple(t, withLimits(await upstream(t), { firstByteTimeoutMs: 500 }))
  const start = Date.now()
  const conns = await Promise.all(Array.from({ length: 5 }, () => F.rawConnect(gw.port)))
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 5), 'counted while open')
  for (const c of conns) t.true(await closedAfter(c, start) >= 450)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
  t.is(await trips(gw, 'first_byte'), 5)
  t.true(gw.alive())
})

test('an HTTP/2 preface trickled one byte at a time never gets a stream: GOAWAY and closed at headersTimeoutMs', async (t) => {
  const gw = await spawnTriple(t, withLimits(await upstream(t), { headersTimeoutMs: 800 }))
  const c = await F.rawConnect(gw.port)
  const start = Date.now()
  trickle(c.socket, Buffer.concat([F.PREFACE, F.settings(), F.headers(1, F.grpcRequest('/pkg.Svc/M'))]), 50)
  t.true(await closedAfter(c, start) >= 750)
  t.is(await trips(gw, 'headers'), 1)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
})

test('HTTP/1.1 headers trickled: 408 and closed at headersTimeoutMs', async (t) => {
  const gw = await spawnTriple(t, withLimits(await upstream(t), { headersTimeoutMs: 800, requestTimeoutMs: 5000 }))
  const c = await F.rawConnect(gw.port)
  const start = Date.now()
  c.socket.write('POST /pkg.Svc/M HTTP/1.1\r\nHost: gw\r\n')
  trickle(c.socket, Buffer.from('X-Slow: ' + 'a'.repeat(500)), 50)
  t.true(await closedAfter(c, start) >= 750)
  t.regex(c.received().toString(), /^HTTP\/1\.1 408/)
  t.is(await trips(gw, 'headers'), 1)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
})

test('HTTP/1.1 body trickled: closed at requestTimeoutMs', async (t) => {
  const gw = await spawnTriple(t, withLimits(await upstream(t), { headersTimeoutMs: 500, requestTimeoutMs: 1200 }))
  const c = await F.rawConnect(gw.port)
  const start = Date.now()
  c.socket.write('POST /pkg.Svc/M HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n')
  trickle(c.socket, Buffer.alloc(1000, 0x61), 50)
  t.true(await closedAfter(c, start) >= 1100)
  t.is(await trips(gw, 'request'), 1)
  t.is(await trips(gw, 'headers'), 0)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
})

test('an HTTP/2 session with no call in flight gets GOAWAY at idleTimeoutMs and is closed; bytes that complete nothing do not keep it', async (t) => {
  const gw = await spawnTriple(t, withLimits(await upstream(t), { idleTimeoutMs: 800, goawayGraceMs: 300 }))
  // A well-behaved client: one call, then nothing. It is told to go away.
  const session = http2.connect(`http://127.0.0.1:${gw.port}`)
  t.teardown(() => session.destroy())
  const goaway = new Promise<number>(resolve => session.once('goaway', (code: number) => resolve(code)))
  session.on('error', () => {})
  await new Promise<void>((resolve) => {
    const s = session.request({ ':method': 'POST', ':path': '/pkg.Svc/M', 'content-type': 'application/grpc', te: 'trailers' })
    s.on('error', () => {})
    s.resume()
    s.on('close', () => resolve())
    s.end(grpcFrame(Buffer.from('x')))
  })
  const idleFrom = Date.now()
  // A raw client that trickles a frame header it never completes.
  const c = await F.rawConnect(gw.port)
  c.socket.write(Buffer.concat([F.PREFACE, F.settings(), F.settingsAck(), F.headers(1, F.grpcRequest('/pkg.Svc/M')), F.data(1, grpcFrame(Buffer.from('x')), true)]))
  t.true(await eventually(() => F.parseFrames(c.received()).some(f => f.type === F.FrameType.HEADERS && (f.flags & F.Flag.END_STREAM) !== 0)))
  const rawIdleFrom = Date.now()
  trickle(c.socket, Buffer.from([0, 0, 8, F.FrameType.PING, 0, 0, 0, 0]), 100)
  t.is(await goaway, http2.constants.NGHTTP2_NO_ERROR)
  t.true(Date.now() - idleFrom >= 750)
  t.true(await closedAfter(c, rawIdleFrom) >= 750)
  t.is(F.goawayCode(c.received()), http2.constants.NGHTTP2_NO_ERROR)
  t.true(await eventually(async () => await trips(gw, 'idle') === 2))
  session.destroy()
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
})

test('TLS port: silent TCP (no handshake) and a finished handshake with no byte after are closed at firstByteTimeoutMs', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'bank')
  const server = await makeLeaf(tmp.dir, ca, 'bank', { app: 'gateway', server: true })
  const gw = await spawnTriple(t, withLimits(await upstream(t), { firstByteTimeoutMs: 800 }, { cert: server.cert, key: server.key, ca: server.ca }))
  const start = Date.now()
  const silent = await F.rawConnect(gw.port)
  const handshaken = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: gw.port, servername: 'localhost', ca: readFileSync(server.ca), ALPNProtocols: ['h2'] }, () => resolve(s))
    s.on('error', reject)
  })
  handshaken.on('error', () => {})
  const handshakenClosed = new Promise<void>(resolve => handshaken.on('close', () => resolve()))
  t.true(await closedAfter(silent, start) >= 750)
  await handshakenClosed
  t.true(Date.now() - start >= 750)
  t.is(await trips(gw, 'first_byte'), 2)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
  t.true(gw.alive())
})

test('an HTTP/1.1 connection with no request in flight is closed at idleTimeoutMs', async (t) => {
  const gw = await spawnTriple(t, withLimits(await upstream(t), { idleTimeoutMs: 800 }))
  const c = await F.rawConnect(gw.port)
  c.socket.write('POST /pkg.Svc/M HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}')
  t.true(await eventually(() => /^HTTP\/1\.1 200/.test(c.received().toString())))
  const start = Date.now()
  t.true(await closedAfter(c, start) >= 750)
  t.is(await trips(gw, 'idle'), 1)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
})

test('a session that received GOAWAY is destroyed when goawayGraceMs passes, even with a call still open', async (t) => {
  const held: http2.ServerHttp2Stream[] = []
  const up = await startRawH2((stream) => { held.push(stream) })
  t.teardown(() => up.close())
  const gw = await spawnTriple(t, withLimits(up.port, { goawayGraceMs: 600 }))
  const c = await F.rawConnect(gw.port)
  c.socket.write(Buffer.concat([F.PREFACE, F.settings(), F.headers(1, F.grpcRequest('/pkg.Svc/Hold')), F.data(1, grpcFrame(Buffer.from('x')), true)]))
  t.true(await eventually(() => held.length === 1))
  const start = Date.now()
  c.socket.write(F.goaway(0, http2.constants.NGHTTP2_NO_ERROR)) // and the call never ends
  t.true(await closedAfter(c, start) >= 550)
  t.is(await trips(gw, 'goaway_grace'), 1)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0))
  t.true(gw.alive())
})
