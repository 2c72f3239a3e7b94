/**
 * The Triple upstream pool when every session is at its stream cap (issue 9, item 9): calls
 * wait for a slot, at most `upstream.maxPending` of them and for `upstream.pendingTimeoutMs`,
 * then get ISTH_ERR_UPSTREAM_OVERLOADED (gRPC RESOURCE_EXHAUSTED). A waiting call the client
 * cancels leaves the queue and never reaches the upstream.
 */
import test from 'ava'
import http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { grpcFrame, startRawH2 } from '../_peers/raw-h2.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { eventually } from '../_helpers/spawned-triple.js'
import { limitTrips } from '../../gateway/metrics.js'

function pooled (port: number, upstream: Record<string, unknown>): Record<string, unknown> {
  const cfg = tripleConfig([port])
  ;(cfg.clusters as Array<Record<string, unknown>>)[0].upstream = { maxConnections: 1, maxConcurrentStreams: 2, ...upstream }
  return cfg
}

test('item 9: past the stream cap, calls wait up to maxPending / pendingTimeoutMs, then RESOURCE_EXHAUSTED', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, pooled(up.port, { maxPending: 2, pendingTimeoutMs: 300 }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const trips = limitTrips('triple', 'pending')
  const before = trips.n
  const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => unary(client, { message: `m${i}`, delayMs: 1500 })))
  const ok = results.filter(r => r.status === 'fulfilled')
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  t.is(ok.length, 2)
  t.is(refused.length, 4)
  for (const r of refused) {
    const err = r.reason as grpc.ServiceError
    t.is(err.code, grpc.status.RESOURCE_EXHAUSTED)
    t.regex(err.details, /upstream pool is full: 127\.0\.0\.1:\d+/)
  }
  t.is(up.calls, 2, 'no waiting call reached the upstream')
  t.is(trips.n - before, 4)
})

test('item 9: waiting calls are served as slots free; never more than the cap in flight', async (t) => {
  let inflight = 0
  let max = 0
  const up = await startRawH2((stream) => {
    inflight++
    max = Math.max(max, inflight)
    setTimeout(() => {
      inflight--
      if (stream.destroyed) return
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(grpcFrame(Buffer.from('ok')))
    }, 150)
  })
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, pooled(up.port, { maxPending: 10, pendingTimeoutMs: 20000 }))
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.triple!.port}`)
  t.teardown(() => session.destroy())
  const statuses = await Promise.all(Array.from({ length: 8 }, () => new Promise<string | undefined>((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': '/pkg.Svc/M', 'content-type': 'application/grpc', te: 'trailers' })
    let status: string | undefined
    req.on('trailers', (h) => { status = h['grpc-status'] as string })
    req.on('error', () => {})
    req.resume()
    req.on('close', () => resolve(status))
    req.end(grpcFrame(Buffer.from('x')))
  })))
  t.deepEqual(statuses, Array(8).fill('0'))
  t.is(max, 2)
  t.is(up.sessions(), 1)
})

test('item 9: a waiting call the client cancels leaves the queue and never reaches the upstream', async (t) => {
  const held: http2.ServerHttp2Stream[] = []
  const up = await startRawH2((stream) => { held.push(stream) })
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, pooled(up.port, { maxPending: 1, pendingTimeoutMs: 20000 }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.triple!.port}`)
  t.teardown(() => session.destroy())
  const call = (): { req: http2.ClientHttp2Stream, done: Promise<string | undefined> } => {
    const req = session.request({ ':method': 'POST', ':path': '/pkg.Svc/M', 'content-type': 'application/grpc', te: 'trailers' })
    let status: string | undefined
    req.on('response', (h) => { status = h['grpc-status'] as string | undefined })
    req.on('trailers', (h) => { status = h['grpc-status'] as string })
    req.on('error', () => {})
    req.resume()
    req.end(grpcFrame(Buffer.from('x')))
    return { req, done: new Promise(resolve => req.on('close', () => resolve(status))) }
  }
  const a = call()
  const b = call()
  t.true(await eventually(() => held.length === 2))
  const waiting = call() // the one place in the queue
  await new Promise(resolve => setTimeout(resolve, 100))
  waiting.req.close(http2.constants.NGHTTP2_CANCEL)
  await waiting.done
  // Its place is free again: this one waits instead of being refused.
  const d = call()
  await new Promise(resolve => setTimeout(resolve, 100))
  const answer = (s: http2.ServerHttp2Stream): void => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }))
    s.end(grpcFrame(Buffer.from('ok')))
  }
  answer(held[0])
  t.true(await eventually(() => held.length === 3))
  answer(held[1])
  answer(held[2])
  t.deepEqual(await Promise.all([a.done, b.done, d.done]), ['0', '0', '0'])
  t.is(up.requests.length, 3, 'the cancelled waiter never reached the upstream')
  t.is(held.length, 3)
})
