/**
 * Clusters that speak HTTP/1.1 upstream (Triple unary `application/json|proto`, plain
 * HTTP/JSON): HTTP/1.1 downstream goes through http2-proxy, HTTP/2 downstream through undici.
 */
import test from 'ava'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { rawRequest } from '../_peers/raw-h2.js'
import { startTestGateway } from '../_helpers/gateway.js'

async function startHttp1 (t: import('ava').ExecutionContext): Promise<{ port: number, seen: http.IncomingHttpHeaders[] }> {
  const seen: http.IncomingHttpHeaders[] = []
  const server = http.createServer((req, res) => {
    seen.push(req.headers)
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      if (req.url === '/pkg.Svc/Missing') { res.writeHead(404, { 'content-type': 'application/json' }); res.end('{"status":12,"message":"nope"}'); return }
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': 'http1' })
      res.end(JSON.stringify({ path: req.url, method: req.method, body, version: req.httpVersion }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { port: (server.address() as AddressInfo).port, seen }
}

function config (port: number): Record<string, unknown> {
  return {
    entity: 'test',
    listeners: { triple: { port: 0 }, admin: { port: 0 } },
    clusters: [{ name: 'json', protocol: 'http1', hosts: [{ address: '127.0.0.1', port }] }],
    routes: [{ name: 'json', match: { service: { prefix: 'pkg.' } }, cluster: 'json' }],
    filters: [{ name: 'headers', config: { request: { set: { 'x-entity': 'test' } }, response: { set: { 'x-gateway': 'isthmus' } } } }],
  }
}

test('HTTP/1.1 downstream -> http1 cluster (http2-proxy)', async (t) => {
  const up = await startHttp1(t)
  const gw = await startTestGateway(t, config(up.port))
  const res = await fetch(`http://127.0.0.1:${gw.addresses.triple!.port}/pkg.Svc/Do`, { method: 'POST', headers: { 'content-type': 'application/json', 'tri-protocol-version': '1.0.0' }, body: '{"a":1}' })
  t.is(res.status, 200)
  t.is(res.headers.get('x-served-by'), 'http1')
  t.is(res.headers.get('x-gateway'), 'isthmus')
  t.deepEqual(await res.json(), { path: '/pkg.Svc/Do', method: 'POST', body: '{"a":1}', version: '1.1' })
  t.is(up.seen[0]['x-entity'], 'test')
  t.is(up.seen[0]['tri-protocol-version'], '1.0.0')
  const miss = await fetch(`http://127.0.0.1:${gw.addresses.triple!.port}/pkg.Svc/Missing`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.is(miss.status, 404)
})

test('HTTP/2 downstream -> http1 cluster (undici), response ends with END_STREAM', async (t) => {
  const up = await startHttp1(t)
  const gw = await startTestGateway(t, config(up.port))
  const r = await rawRequest(gw.addresses.triple!.port, { ':path': '/pkg.Svc/Do', 'content-type': 'application/json', 'tri-protocol-version': '1.0.0' }, Buffer.from('{"b":2}'))
  t.true(r.ended, 'END_STREAM on the last frame')
  t.is(r.rstCode, null, 'no RST_STREAM')
  t.is(Number(r.headers[':status']), 200)
  t.is(r.headers['x-gateway'], 'isthmus')
  t.deepEqual(JSON.parse(r.body.toString()), { path: '/pkg.Svc/Do', method: 'POST', body: '{"b":2}', version: '1.1' })
  t.is(up.seen[0]['x-entity'], 'test')
})

test('http1 cluster with a dead host -> UNAVAILABLE / 503 JSON', async (t) => {
  const up = await startHttp1(t)
  const gw0 = await startTestGateway(t, config(up.port))
  const port = gw0.addresses.admin.port // a port that will be closed below
  await gw0.close()
  const gw = await startTestGateway(t, config(port))
  const res = await fetch(`http://127.0.0.1:${gw.addresses.triple!.port}/pkg.Svc/Do`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.is(res.status, 503)
  const body = await res.json() as { status: number, message: string }
  t.is(body.status, 14)
  t.regex(body.message, /upstream connection failed/)
  const r = await rawRequest(gw.addresses.triple!.port, { ':path': '/pkg.Svc/Do', 'content-type': 'application/json' }, Buffer.from('{}'))
  t.is(Number(r.headers[':status']), 503)
})
