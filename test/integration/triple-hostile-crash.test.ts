/**
 * Remote kill switches on the Triple listener (issue 9, items 1-4), against the compiled CLI
 * as its own process: a crash shows as an exit. Each test also checks the gateway still
 * serves a healthy grpc-js client afterwards.
 */
import test from 'ava'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startRawH2, rawRequest } from '../_peers/raw-h2.js'
import * as F from '../_peers/h2-frames.js'
import { tripleConfig } from '../_helpers/gateway.js'
import { eventually, sleep, spawnTriple, type SpawnedTriple } from '../_helpers/spawned-triple.js'

const TRIPLE = { listener: 'triple' }

async function healthy (t: import('ava').ExecutionContext, gw: SpawnedTriple): Promise<void> {
  const client = echoClient(gw.port)
  t.teardown(() => client.close())
  const { reply } = await unary(client, { message: 'still here' })
  t.is(reply.message, 'still here')
  t.true(gw.alive(), gw.stderr())
}

test('item 1: connections that reset (or close) before sending a byte do not kill the gateway', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const gw = await spawnTriple(t, tripleConfig([up.port]))
  for (let i = 0; i < 30; i++) {
    await new Promise<void>((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1')
      s.on('error', () => {})
      s.on('connect', () => { if (i % 3 === 2) s.end(); else s.resetAndDestroy() })
      s.on('close', () => resolve())
    })
  }
  // Every one of them is closed and uncounted again.
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0), 'connection gauge back to 0')
  await healthy(t, gw)
})

test('item 2: preface + SETTINGS + HEADERS + GOAWAY(PROTOCOL_ERROR) in one write, and HEADERS/RST_STREAM floods then FIN', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const gw = await spawnTriple(t, tripleConfig([up.port]))
  const closed: Array<Promise<void>> = []
  for (let i = 0; i < 20; i++) {
    const c = await F.rawConnect(gw.port)
    c.socket.write(Buffer.concat([F.PREFACE, F.settings(), F.headers(1, F.grpcRequest('/isthmus.test.Echo/Unary')), F.goaway(0, 1)]))
    closed.push(c.closed)
  }
  for (let i = 0; i < 10; i++) {
    const c = await F.rawConnect(gw.port)
    const parts = [F.PREFACE, F.settings()]
    for (let id = 1; id < 600; id += 2) parts.push(F.headers(id, F.grpcRequest('/isthmus.test.Echo/Unary')), F.rstStream(id))
    c.socket.end(Buffer.concat(parts))
    closed.push(c.closed)
  }
  await Promise.all(closed)
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', TRIPLE) === 0), 'connection gauge back to 0')
  await healthy(t, gw)
})

test('item 3: HTTP/1.1 TE and Connection-named headers are translated for an HTTP/2 upstream, not thrown', async (t) => {
  const up = await startRawH2((stream, _h, body) => {
    stream.respond({ ':status': 200, 'content-type': 'application/json' })
    stream.end(JSON.stringify({ got: body.toString() }))
  })
  t.teardown(() => up.close())
  const gw = await spawnTriple(t, tripleConfig([up.port]))
  const send = (headers: Record<string, string>): Promise<{ status: number, body: string }> => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'POST', path: '/pkg.Svc/Do', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end('{"q":1}')
  })
  const a = await send({ te: 'gzip' })
  t.is(a.status, 200)
  t.deepEqual(JSON.parse(a.body), { got: '{"q":1}' })
  t.is(up.requests[0].te, undefined, 'TE: gzip has no HTTP/2 form: dropped')
  const b = await send({ te: 'trailers, deflate;q=0.5', connection: 'keep-alive, x-hop', 'x-hop': 'local', 'x-keep': 'yes' })
  t.is(b.status, 200)
  t.is(up.requests[1].te, 'trailers')
  t.is(up.requests[1]['x-hop'], undefined, 'a header named by Connection is hop-by-hop')
  t.is(up.requests[1]['x-keep'], 'yes')
  t.is(up.requests[1][':authority'], `127.0.0.1:${gw.port}`)
  t.true(gw.alive(), gw.stderr())
})

test('item 3: a filter that sets a header node refuses on HTTP/2 fails that call with INTERNAL, not the process', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port], {
    routes: [
      { name: 'bad', match: { service: 'isthmus.test.Echo', headers: [{ name: 'x-bad', present: true }] }, cluster: 'echo' },
      { name: 'all', match: { service: { prefix: '' } }, cluster: 'echo' },
    ],
    // `keep-alive` is connection-specific: node throws ERR_HTTP2_INVALID_CONNECTION_HEADERS.
    filters: [{ name: 'headers', config: { request: { set: { 'keep-alive': 'timeout=5' } } } }],
  })
  const gw = await spawnTriple(t, cfg)
  const client = echoClient(gw.port)
  t.teardown(() => client.close())
  const err = await t.throwsAsync(unary(client, { message: 'x' })) as grpc.ServiceError
  t.is(err.code, grpc.status.INTERNAL)
  t.regex(err.details, /internal error/)
  const again = await t.throwsAsync(unary(client, { message: 'y' })) as grpc.ServiceError
  t.is(again.code, grpc.status.INTERNAL)
  t.true(gw.alive(), gw.stderr())
  // Logged once, not once per call (the log arrives through a pipe: wait for it).
  const logged = (): number => gw.gw.logs.filter(l => l.msg === 'internal error on a Triple call').length
  t.true(await eventually(() => logged() >= 1))
  await sleep(200)
  t.is(logged(), 1)
  t.is(up.calls, 0)
})

test('item 4: an HTTP/1.1 upstream response node cannot send on HTTP/2 is an error reply (the fulfilment handler throws inside a promise chain)', async (t) => {
  // Two Content-Type fields (undici makes them an array: HTTP/2 refuses that for a
  // single-value header), or a TE field (dropped: it has no HTTP/2 form).
  const server = net.createServer((s) => {
    s.on('error', () => {})
    s.once('data', (d: Buffer) => {
      const dup = d.toString().includes('/pkg.Svc/Dup')
      s.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${dup ? 'Content-Type: text/plain\r\n' : 'TE: gzip\r\n'}Content-Length: 2\r\nConnection: close\r\n\r\n{}`)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  const port = (server.address() as AddressInfo).port
  const gw = await spawnTriple(t, {
    entity: 'test',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 't' } },
    clusters: [{ name: 'json', protocol: 'http1', hosts: [{ address: '127.0.0.1', port }] }],
    routes: [{ name: 'json', match: { service: { prefix: 'pkg.' } }, cluster: 'json' }],
  })
  const dup = await rawRequest(gw.port, { ':path': '/pkg.Svc/Dup', 'content-type': 'application/json' }, Buffer.from('{}'))
  t.is(Number(dup.headers[':status']), 500)
  t.regex(dup.body.toString(), /internal error/)
  const te = await rawRequest(gw.port, { ':path': '/pkg.Svc/Te', 'content-type': 'application/json' }, Buffer.from('{}'))
  t.is(Number(te.headers[':status']), 200)
  t.is(te.headers.te, undefined)
  t.is(te.body.toString(), '{}')
  await sleep(100)
  t.true(gw.alive(), gw.stderr())
})
