/**
 * The frame-level HTTP/2 relay prototype (bench/h2-frame-relay/, issue 13 item 3) between a
 * real grpc-js client and a real grpc-js server (one node:http2 server for an upstream
 * RST_STREAM): what a gRPC proxy must keep.
 */
import test, { type ExecutionContext } from 'ava'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary, type EchoClient, type EchoReply, type EchoServer } from '../_peers/grpc-echo.js'
import { startRelay, type Relay } from '../../bench/h2-frame-relay/relay.js'

async function setup (t: ExecutionContext, upstreamPort?: number): Promise<{ relay: Relay, client: EchoClient, echo: EchoServer | null }> {
  t.timeout(15000)
  const echo = upstreamPort === undefined ? await startEchoServer('up') : null
  const relay = await startRelay({ port: 0, routes: [{ prefix: '/', host: '127.0.0.1', port: upstreamPort ?? echo!.port }], connectTimeoutMs: 2000 })
  const client = echoClient(relay.port)
  t.teardown(async () => { client.close(); await relay.close(); echo?.kill() })
  return { relay, client, echo }
}

/** A node:http2 server as upstream; teardown destroys its sessions, then closes it. */
async function h2Server (t: ExecutionContext, onStream: (s: http2.ServerHttp2Stream) => void): Promise<{ port: number, sessions: Set<http2.ServerHttp2Session> }> {
  const h2 = http2.createServer()
  const sessions = new Set<http2.ServerHttp2Session>()
  h2.on('session', (s) => { sessions.add(s); s.on('error', () => {}) })
  h2.on('stream', (s) => { s.on('error', () => {}); onStream(s) })
  await new Promise<void>(resolve => h2.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); h2.close(() => resolve()) }))
  return { port: (h2.address() as AddressInfo).port, sessions }
}

async function until (cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise(resolve => setTimeout(resolve, 10))
}

function collect (call: grpc.ClientReadableStream<EchoReply>): Promise<{ replies: EchoReply[], error: grpc.ServiceError | null, trailers: grpc.Metadata }> {
  return new Promise((resolve) => {
    const replies: EchoReply[] = []
    let error: grpc.ServiceError | null = null
    call.on('data', (r: EchoReply) => replies.push(r))
    call.on('error', (e: grpc.ServiceError) => { error = e })
    call.on('status', (s: grpc.StatusObject) => resolve({ replies, error, trailers: s.metadata }))
  })
}

test('unary OK: message, headers and trailers pass through', async (t) => {
  const { client, relay } = await setup(t)
  const md = new grpc.Metadata()
  md.set('x-tag', 'abc')
  for (let i = 0; i < 3; i++) { // later calls use the verbatim (no dynamic table) path
    const r = await unary(client, { message: `hello ${i}` }, md)
    t.is(r.reply.message, `hello ${i}`)
    t.is(r.reply.servedBy, 'up')
    t.deepEqual(r.headers.get('x-tag'), ['abc'])
    t.deepEqual(r.trailers.get('x-trailer-tag'), ['abc'])
  }
  await until(() => relay.pools[0].conns[0].streams.size === 0)
  t.pass()
})

test('requests sent before the client has our SETTINGS (dynamic-table HPACK, re-encoded) arrive intact', async (t) => {
  const { relay } = await setup(t)
  // node:http2 sends these in its first write, encoded against the default 4096-byte table:
  // the second and third refer to entries the first inserted.
  const session = http2.connect(`http://127.0.0.1:${relay.port}`)
  session.on('error', () => {})
  t.teardown(() => { session.destroy() })
  const one = (i: number): Promise<{ tag: unknown, status: unknown }> => new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/isthmus.test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', 'x-n': `value-${i}` })
    let tag: unknown
    req.on('response', (h) => { tag = h['x-n'] })
    req.on('trailers', (tr) => resolve({ tag, status: tr['grpc-status'] }))
    req.on('error', reject)
    req.end(Buffer.from([0, 0, 0, 0, 0])) // an empty EchoRequest
  })
  const got = await Promise.all([one(0), one(1), one(2)])
  t.deepEqual(got, [0, 1, 2].map(i => ({ tag: `value-${i}`, status: '0' })))
})

test('non-OK status in trailers after response messages', async (t) => {
  const { client } = await setup(t)
  const r = await collect(client.serverStream({ message: 'm', count: 2, failCode: grpc.status.FAILED_PRECONDITION }))
  t.is(r.replies.length, 2)
  t.is(r.error?.code, grpc.status.FAILED_PRECONDITION)
  t.is(r.error?.details, 'failed as asked: m')
  t.deepEqual(r.error?.metadata.get('x-fail-detail-bin'), [Buffer.from([1, 2, 3])])
})

test('Trailers-Only response (unary error)', async (t) => {
  const { client } = await setup(t)
  const err = await t.throwsAsync(unary(client, { message: 'nope', failCode: grpc.status.NOT_FOUND })) as grpc.ServiceError
  t.is(err.code, grpc.status.NOT_FOUND)
  t.is(err.details, 'failed as asked: nope')
  t.deepEqual(err.metadata.get('x-fail-detail-bin'), [Buffer.from([1, 2, 3])])
})

test('server streaming: every message in order, then trailers', async (t) => {
  const { client } = await setup(t)
  const md = new grpc.Metadata()
  md.set('x-s', '1')
  const r = await collect(client.serverStream({ message: 's', count: 200 }, md))
  t.is(r.error, null)
  t.deepEqual(r.replies.map(x => x.index), Array.from({ length: 200 }, (_, i) => i))
  t.deepEqual(r.trailers.get('x-trailer-s'), ['1'])
})

test('messages far beyond 64 KiB both ways, several at once (flow control)', async (t) => {
  const { client } = await setup(t)
  const payloads = [1 << 20, 3 << 20, 200 * 1024, 5 << 20].map((n, i) => Buffer.alloc(n, 0x30 + i))
  const replies = await Promise.all(payloads.map(p => unary(client, { message: 'big', payload: p })))
  for (let i = 0; i < payloads.length; i++) t.true(replies[i].reply.payload.equals(payloads[i]), `payload ${i}`)
  // A client stream of many messages: request DATA queued behind the upstream's windows.
  const res = await new Promise<EchoReply>((resolve, reject) => {
    const call = client.clientStream(new grpc.Metadata(), {}, (err, r) => err !== null ? reject(err) : resolve(r))
    for (let i = 0; i < 40; i++) call.write({ message: String(i), payload: Buffer.alloc(100 * 1024, i) })
    call.end()
  })
  t.is(res.index, 40 * 100 * 1024)
  t.is(res.message, Array.from({ length: 40 }, (_, i) => String(i)).join(','))
})

test('a paused client: the relay stops at the client\'s window and buffers at most what it granted upstream', async (t) => {
  const { client, relay } = await setup(t)
  const call = client.serverStream({ message: 'p', count: 40, payload: Buffer.alloc(64 * 1024, 7) })
  const done = collect(call)
  call.pause()
  // Wait until the relay holds response bytes it may not send yet (the client's window is shut).
  const queued = (): number => relay.clients().reduce((n, c) => n + [...c.streams.values()].reduce((m, st) => m + st.toDown.qBytes, 0), 0)
  await until(() => queued() > 0)
  for (const c of relay.clients()) {
    t.true(c.sendWindow >= 0, 'connection window respected')
    for (const st of c.streams.values()) {
      t.true(st.toDown.win >= 0, 'stream window respected')
      t.true(st.toDown.qBytes <= 256 * 1024, 'buffered no more than the stream window granted upstream')
    }
  }
  call.resume()
  const r = await done
  t.is(r.error, null)
  t.is(r.replies.length, 40)
})

test('client cancel: RST_STREAM reaches the upstream, the relay forgets the stream', async (t) => {
  const { client, echo, relay } = await setup(t)
  const call = client.serverStream({ message: 'c', count: 10000, delayMs: 5 })
  const done = collect(call)
  await new Promise<void>(resolve => call.once('data', () => resolve()))
  call.cancel()
  const r = await done
  t.is(r.error?.code, grpc.status.CANCELLED)
  await until(() => echo!.cancelled.includes('serverStream'))
  await until(() => relay.pools[0].conns[0].streams.size === 0)
  // The connection still serves calls.
  t.is((await unary(client, { message: 'after' })).reply.message, 'after')
})

test('upstream RST_STREAM reaches the client with its code', async (t) => {
  const h2 = await h2Server(t, (s) => { s.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) })
  const { client } = await setup(t, h2.port)
  const err = await t.throwsAsync(unary(client, { message: 'x' })) as grpc.ServiceError
  t.is(err.code, grpc.status.RESOURCE_EXHAUSTED) // grpc-js's mapping of ENHANCE_YOUR_CALM
})

test('upstream GOAWAY: the call in flight completes, later calls do not use that connection', async (t) => {
  const { client, echo } = await setup(t)
  t.is((await unary(client, { message: 'warm' })).reply.message, 'warm')
  const inFlight = unary(client, { message: 'slow', delayMs: 300 })
  await until(() => echo!.calls === 2)
  const shut = echo!.close() // grpc-js tryShutdown: GOAWAY, then waits for the call
  t.is((await inFlight).reply.message, 'slow')
  await shut
  // The server is gone: a new call gets UNAVAILABLE from the relay (connect refused), not a hang.
  const err = await t.throwsAsync(unary(client, { message: 'later' })) as grpc.ServiceError
  t.is(err.code, grpc.status.UNAVAILABLE)
  t.regex(err.details, /upstream connection failed/)
})

test('upstream GOAWAY on a server that stays up: the next call goes over a new connection', async (t) => {
  const h2 = await h2Server(t, (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }))
    const session = s.session!
    s.on('close', () => { if (!session.closed && !session.destroyed) session.goaway(http2.constants.NGHTTP2_NO_ERROR, s.id) })
    s.resume()
    s.on('end', () => s.end(Buffer.from([0, 0, 0, 0, 0]))) // an empty EchoReply
  })
  const { client } = await setup(t, h2.port)
  await unary(client, { message: 'one' })
  await unary(client, { message: 'two' })
  t.is(h2.sessions.size, 2)
})

test('upstream connection closed mid-stream: the client gets UNAVAILABLE', async (t) => {
  const { client, echo } = await setup(t)
  const call = client.serverStream({ message: 'k', count: 10000, delayMs: 5 })
  const done = collect(call)
  await new Promise<void>(resolve => call.once('data', () => resolve()))
  echo!.kill()
  const r = await done
  t.true(r.replies.length >= 1)
  t.is(r.error?.code, grpc.status.UNAVAILABLE)
  t.is(r.error?.details, 'upstream connection closed')
})
