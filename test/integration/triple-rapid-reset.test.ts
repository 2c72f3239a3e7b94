/**
 * Rapid reset (CVE-2023-44487; issue 9 item 5): HEADERS + RST_STREAM floods are bounded per
 * session (GOAWAY ENHANCE_YOUR_CALM, then destroyed after the grace), reset streams are not
 * forwarded, and an upstream that answers our cancels with GOAWAY is not ejected.
 */
import test from 'ava'
import http2 from 'node:http2'
import { readdirSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { grpcFrame, rawRequest, startRawH2 } from '../_peers/raw-h2.js'
import * as F from '../_peers/h2-frames.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { eventually, sleep, spawnTriple } from '../_helpers/spawned-triple.js'

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants
const TRIPLE = { listener: 'triple' }

function openFds (pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length } catch { return -1 }
}

test('item 5: a HEADERS+RST_STREAM flood gets GOAWAY ENHANCE_YOUR_CALM and is closed; reset streams never reach the upstream; healthy calls see no error', async (t) => {
  let attackSeen = 0
  const up = await startRawH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(grpcFrame(Buffer.from('ok')))
  })
  t.teardown(() => up.close())
  const healthyUp = await startEchoServer()
  t.teardown(() => healthyUp.close())
  const cfg = tripleConfig([up.port], {
    clusters: [
      { name: 'echo', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: up.port }], outlier: { consecutiveFailures: 1, ejectMs: 60000 } },
      { name: 'healthy', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: healthyUp.port }], outlier: { consecutiveFailures: 1, ejectMs: 60000 } },
    ],
    routes: [
      { name: 'healthy', match: { service: 'isthmus.test.Echo' }, cluster: 'healthy' },
      { name: 'all', match: { service: { prefix: '' } }, cluster: 'echo' },
    ],
  })
  ;(cfg.listeners as { triple: Record<string, unknown> }).triple.limits = { rapidReset: { maxResets: 50, windowMs: 10000 }, goawayGraceMs: 500 }
  const gw = await spawnTriple(t, cfg)
  const client = echoClient(gw.port)
  t.teardown(() => client.close())
  await unary(client, { message: 'warm' })
  t.is((await rawRequest(gw.port, { ':path': '/pkg.Attack/Call', 'content-type': 'application/grpc', te: 'trailers' }, grpcFrame(Buffer.from('x')))).trailers?.['grpc-status'], '0')
  const warm = up.requests.length
  const baseFds = openFds(gw.gw.child.pid!)

  let healthyErrors = 0
  let healthyOk = 0
  let attacking = true
  const healthy = (async () => {
    while (attacking) {
      try { await unary(client, { message: 'h' }); healthyOk++ } catch { healthyErrors++ }
    }
  })()

  const conns: F.RawConn[] = []
  const pairs = (from: number, to: number): Buffer => {
    const parts = []
    for (let id = from; id < to; id += 2) parts.push(F.headers(id, F.grpcRequest('/pkg.Attack/Call')), F.rstStream(id))
    return Buffer.concat(parts)
  }
  for (let i = 0; i < 20; i++) {
    const c = await F.rawConnect(gw.port)
    conns.push(c)
    // No FIN: the gateway has to close these. Half send everything in one packet (the sniffed
    // first read), half after the preface, in several packets (node's native read path).
    if (i % 2 === 0) { c.socket.write(Buffer.concat([F.PREFACE, F.settings(), pairs(1, 800)])); continue }
    c.socket.write(Buffer.concat([F.PREFACE, F.settings()]))
    await sleep(20)
    for (let k = 0; k < 4; k++) { c.socket.write(pairs(1 + k * 200, 200 + k * 200)); await sleep(5) }
  }
  await Promise.all(conns.map(c => c.closed))
  attacking = false
  await healthy
  attackSeen = up.requests.length - warm

  for (const c of conns) t.is(F.goawayCode(c.received()), NGHTTP2_ENHANCE_YOUR_CALM)
  t.is(healthyErrors, 0)
  t.true(healthyOk > 0)
  // A stream reset in the packet that opened it is never forwarded; only the first stream of
  // a fresh session can be (node emits it before reading the RST that follows).
  t.true(attackSeen <= conns.length, `${attackSeen} attack streams reached the upstream`)
  t.true(await gw.metric('isthmus_limit_trips_total', { listener: 'triple', limit: 'rapid_reset' }) >= conns.length)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 1), 'only the healthy client stays connected')
  t.true(await eventually(() => openFds(gw.gw.child.pid!) <= baseFds), `fds back to ${baseFds}: ${openFds(gw.gw.child.pid!)}`)
  // The attacked cluster's host was not ejected.
  const r = await F.rawConnect(gw.port)
  t.teardown(() => r.socket.destroy())
  r.socket.write(Buffer.concat([F.PREFACE, F.settings(), F.headers(1, F.grpcRequest('/pkg.Attack/Call')), F.data(1, grpcFrame(Buffer.from('x')), true)]))
  t.true(await eventually(() => F.parseFrames(r.received()).some(f => f.type === F.FrameType.HEADERS && f.streamId === 1 && (f.flags & F.Flag.END_STREAM) !== 0)))
  t.true(gw.alive(), gw.stderr())
})

test('item 5: streams reset while their async filter runs are not forwarded', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const slow = new URL('../_helpers/filters/async-tag.ts', import.meta.url).pathname
  const cfg = tripleConfig([up.port], { filters: [{ name: 'async-tag', module: slow, config: { delayMs: 200 } }] })
  const gw = await startTestGateway(t, cfg)
  const c = await F.rawConnect(gw.addresses.triple!.port)
  t.teardown(() => c.socket.destroy())
  const parts = [F.PREFACE, F.settings()]
  for (let id = 1; id <= 9; id += 2) parts.push(F.headers(id, F.grpcRequest('/isthmus.test.Echo/Unary')))
  c.socket.write(Buffer.concat(parts))
  await sleep(50)
  const rst = []
  for (let id = 1; id <= 9; id += 2) rst.push(F.rstStream(id))
  c.socket.write(Buffer.concat(rst))
  await sleep(600)
  t.is(up.calls, 0)
  // The gateway still serves this session.
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  t.is((await unary(client, { message: 'ok' })).reply.message, 'ok')
})

test('item 5: an upstream that answers our cancels with GOAWAY is not ejected (failures after cancels do not count)', async (t) => {
  // Like node/nghttp2's own guard: too many client resets on a session -> GOAWAY + close.
  const held: http2.ServerHttp2Stream[] = []
  let cancels = 0
  const server = http2.createServer()
  server.on('session', (s) => { s.on('error', () => {}) })
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    const session = stream.session!
    stream.on('close', () => {
      if (stream.rstCode === http2.constants.NGHTTP2_CANCEL && ++cancels === 5) { session.goaway(NGHTTP2_ENHANCE_YOUR_CALM); session.destroy() }
    })
    if (headers[':path'] === '/pkg.Svc/Slow') { held.push(stream); return }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(grpcFrame(Buffer.from('ok')))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  const port = (server.address() as import('node:net').AddressInfo).port
  const cfg = tripleConfig([port])
  ;(cfg.clusters as Array<Record<string, unknown>>)[0].outlier = { consecutiveFailures: 1, ejectMs: 60000 }
  ;(cfg.clusters as Array<Record<string, unknown>>)[0].upstream = { maxConnections: 1 }
  const gw = await startTestGateway(t, cfg)
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.triple!.port}`)
  t.teardown(() => session.destroy())
  const call = (path: string): http2.ClientHttp2Stream => {
    const s = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' })
    s.on('error', () => {})
    s.end(grpcFrame(Buffer.from('x')))
    return s
  }
  // Two calls in flight on the shared upstream session, then five the client cancels.
  const inflight = [call('/pkg.Svc/Slow'), call('/pkg.Svc/Slow')]
  await eventually(() => held.length === 2)
  for (let i = 0; i < 5; i++) {
    const s = call('/pkg.Svc/Slow')
    await eventually(() => held.length === 3 + i)
    s.close(http2.constants.NGHTTP2_CANCEL)
  }
  const failed = await Promise.all(inflight.map(s => new Promise<string | undefined>((resolve) => {
    let status: string | undefined
    s.on('response', (h) => { status = h['grpc-status'] as string | undefined })
    s.on('close', () => resolve(status))
  })))
  // The upstream's GOAWAY failed the two in-flight calls (UNAVAILABLE); the host must still be in service.
  t.deepEqual(failed, ['14', '14'])
  const after = await new Promise<{ status: string | undefined }>((resolve) => {
    const s = call('/pkg.Svc/Fast')
    let status: string | undefined
    s.on('response', (h) => { status = h['grpc-status'] as string | undefined })
    s.on('trailers', (h) => { status = h['grpc-status'] as string | undefined })
    s.resume()
    s.on('close', () => resolve({ status }))
  })
  t.is(after.status, String(grpc.status.OK))
})
