/** Listener settings, per-route timeout, active health checks, session caps and backpressure. */
import test from 'ava'
import http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import { startRawH2, rawRequest, grpcFrame } from '../_peers/raw-h2.js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

const GRPC = { ':path': '/pkg.Svc/M', 'content-type': 'application/grpc', te: 'trailers' }

function okServer () {
  return startRawH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(grpcFrame(Buffer.from('ok')))
  })
}

test('HTTP/2 settings from the config are advertised to clients', async (t) => {
  const up = await okServer()
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port])
  ;(cfg.listeners as { triple: Record<string, unknown> }).triple.http2 = { maxConcurrentStreams: 7, maxHeaderListSize: 4096, initialWindowSize: 131072 }
  const gw = await startTestGateway(t, cfg)
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.triple!.port}`)
  t.teardown(() => session.destroy())
  const settings = await new Promise<http2.Settings>(resolve => session.once('remoteSettings', resolve))
  t.is(settings.maxConcurrentStreams, 7)
  t.is(settings.maxHeaderListSize, 4096)
  t.is(settings.initialWindowSize, 131072)
})

test('per-route timeout ends a slow call with DEADLINE_EXCEEDED even when the client set none', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port])
  // The short route takes only calls marked x-slow; the follow-up call goes by a route with the
  // default timeout, so a busy machine cannot turn it into a timeout too.
  cfg.routes = [
    { name: 'short', match: { service: 'isthmus.test.Echo', headers: [{ name: 'x-slow', present: true }] }, cluster: 'echo', timeoutMs: 200 },
    { name: 'normal', match: { service: 'isthmus.test.Echo' }, cluster: 'echo' },
  ]
  const gw = await startTestGateway(t, cfg)
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const slow = new grpc.Metadata(); slow.set('x-slow', '1')
  const err = await t.throwsAsync(unary(client, { message: 'slow', delayMs: 20000 }, slow)) as grpc.ServiceError
  t.is(err.code, grpc.status.DEADLINE_EXCEEDED)
  t.regex(err.details, /upstream timed out: route short/)
  t.is((await unary(client, { message: 'fast' })).reply.message, 'fast')
})

test('active health check marks a dead host down, so no call is sent to it', async (t) => {
  const good = await okServer()
  t.teardown(() => good.close())
  const dead = await startRawH2(() => {})
  const deadPort = dead.port
  await dead.close()
  const cfg = tripleConfig([deadPort, good.port])
  ;(cfg.clusters as Array<Record<string, unknown>>)[0].healthCheck = { intervalMs: 30, timeoutMs: 200, unhealthyThreshold: 1, healthyThreshold: 1 }
  // Passive ejection off (huge threshold), so only the active check can skip the host.
  ;(cfg.clusters as Array<Record<string, unknown>>)[0].outlier = { consecutiveFailures: 1000, ejectMs: 1 }
  const gw = await startTestGateway(t, cfg)
  await new Promise(resolve => setTimeout(resolve, 300))
  for (let i = 0; i < 10; i++) {
    const r = await rawRequest(gw.addresses.triple!.port, GRPC, grpcFrame(Buffer.from('x')))
    t.is(r.trailers?.['grpc-status'], '0')
  }
  t.is(good.requests.length, 10)
})

test('streams per upstream session are capped: more concurrent calls open more sessions, up to maxConnections', async (t) => {
  const up = await startRawH2((stream) => {
    setTimeout(() => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(grpcFrame(Buffer.from('ok')))
    }, 300)
  })
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port])
  // A generous wait for a slot: this test is about where calls go, not about the wait's bound.
  ;(cfg.clusters as Array<Record<string, unknown>>)[0].upstream = { maxConcurrentStreams: 2, maxConnections: 3, pendingTimeoutMs: 30000 }
  const gw = await startTestGateway(t, cfg)
  const results = await Promise.all(Array.from({ length: 10 }, () => rawRequest(gw.addresses.triple!.port, GRPC, grpcFrame(Buffer.from('x')))))
  t.true(results.every(r => r.trailers?.['grpc-status'] === '0'))
  // 10 concurrent calls, 2 streams per session, at most 3 sessions: the rest queue on them.
  t.is(up.sessions(), 3)
})

test('backpressure: a client that does not read stops the upstream (bounded buffering)', async (t) => {
  let written = 0
  let blocked = false
  const chunk = Buffer.alloc(64 * 1024)
  const up = await startRawH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
    const pump = (): void => {
      while (written < 64 * 1024 * 1024) {
        written += chunk.length
        if (!stream.write(chunk)) { blocked = true; stream.once('drain', pump); return }
      }
      stream.end()
    }
    pump()
  })
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port]))
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.triple!.port}`)
  t.teardown(() => session.destroy())
  const req = session.request({ ':method': 'POST', ...GRPC })
  req.end(grpcFrame(Buffer.from('go')))
  req.pause() // never read
  req.on('error', () => {})
  // Wait for the event (the upstream's write() returned false), bounded generously.
  for (const end = Date.now() + 40000; !blocked && Date.now() < end;) await new Promise(resolve => setTimeout(resolve, 20))
  await new Promise(resolve => setTimeout(resolve, 300)) // let writes in flight land: it can only raise `written`
  t.true(blocked, 'the upstream saw write() return false')
  t.true(written < 8 * 1024 * 1024, `upstream wrote ${written} bytes while the client read nothing`)
})
