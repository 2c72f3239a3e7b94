import test from 'ava'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { fileURLToPath } from 'node:url'
import { EchoService, startEchoServer, unary, type EchoClient } from '../_peers/grpc-echo.js'
import { startRawH2 } from '../_peers/raw-h2.js'
import { makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

const stamp = fileURLToPath(new URL('../_helpers/filters/peer-stamp.ts', import.meta.url))

async function pki (t: import('ava').ExecutionContext) {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'bank')
  const server = await makeLeaf(tmp.dir, ca, 'bank', { app: 'gateway', server: true })
  const client = await makeLeaf(tmp.dir, ca, 'bank', { app: 'payments', client: true })
  const otherCa = await makeCa(tmp.dir, 'rogue')
  const rogue = await makeLeaf(tmp.dir, otherCa, 'rogue', { client: true })
  return { server, client, rogue }
}

function tlsClient (port: number, ca: string, leaf?: { cert: string, key: string }): EchoClient {
  const creds = grpc.credentials.createSsl(readFileSync(ca), leaf === undefined ? null : readFileSync(leaf.key), leaf === undefined ? null : readFileSync(leaf.cert))
  return new EchoService(`localhost:${port}`, creds, { 'grpc.ssl_target_name_override': 'localhost' }) as EchoClient
}

test('TLS listener requiring a client certificate: identity reaches filters; no cert or a foreign CA is refused', async (t) => {
  const { server, client, rogue } = await pki(t)
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port], { filters: [{ name: 'peer-stamp', module: stamp, config: { header: 'x-peer' } }] })
  ;(cfg.listeners as { triple: Record<string, unknown> }).triple.tls = { cert: server.cert, key: server.key, ca: server.ca, requireClientCert: true }
  const gw = await startTestGateway(t, cfg)
  const port = gw.addresses.triple!.port

  const ok = tlsClient(port, server.ca, client)
  t.teardown(() => ok.close())
  const { headers } = await unary(ok, { message: 'secure' })
  t.is(headers.get('x-peer')[0], 'bank/payments')

  const anonymous = tlsClient(port, server.ca)
  t.teardown(() => anonymous.close())
  const e1 = await t.throwsAsync(unary(anonymous, { message: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 3000 })) as grpc.ServiceError
  t.is(e1.code, grpc.status.UNAVAILABLE)

  const foreign = tlsClient(port, server.ca, rogue)
  t.teardown(() => foreign.close())
  const e2 = await t.throwsAsync(unary(foreign, { message: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 3000 })) as grpc.ServiceError
  t.is(e2.code, grpc.status.UNAVAILABLE)
  t.is(up.calls, 1)
})

test('TLS listener falls back to HTTP/1.1 over ALPN for Triple unary', async (t) => {
  const { server, client } = await pki(t)
  const up = await startRawH2((stream, _h, body) => {
    stream.respond({ ':status': 200, 'content-type': 'application/json' })
    stream.end(JSON.stringify({ echoed: body.toString() }))
  })
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port])
  ;(cfg.listeners as { triple: Record<string, unknown> }).triple.tls = { cert: server.cert, key: server.key, ca: server.ca, requireClientCert: true }
  const gw = await startTestGateway(t, cfg)
  const body = await new Promise<{ status: number, alpn: string, text: string }>((resolve, reject) => {
    const options = {
      host: '127.0.0.1', port: gw.addresses.triple!.port, servername: 'localhost', method: 'POST', path: '/pkg.Svc/Method',
      ca: readFileSync(server.ca), cert: readFileSync(client.cert), key: readFileSync(client.key), ALPNProtocols: ['http/1.1'],
      headers: { 'content-type': 'application/json', 'tri-protocol-version': '1.0.0' }, agent: false,
    } as https.RequestOptions
    const req = https.request(options, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol || '', text }))
    })
    req.on('error', reject)
    req.end('{"q":1}')
  })
  t.is(body.status, 200)
  t.is(body.alpn, 'http/1.1')
  t.deepEqual(JSON.parse(body.text), { echoed: '{"q":1}' })
})
