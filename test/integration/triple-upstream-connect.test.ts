/**
 * Triple upstreams that cannot be reached (issue 9, item 15): a name that does not resolve,
 * a closed port, a server that accepts and resets, one that never speaks HTTP/2. Each is
 * ISTH_ERR_UPSTREAM_CONNECT (gRPC UNAVAILABLE) with the reason, as Bolt reports it, never
 * "upstream reset the call: HTTP/2 error code 2".
 */
import test from 'ava'
import net, { type AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { echoClient, unary } from '../_peers/grpc-echo.js'
import { startTestGateway } from '../_helpers/gateway.js'

async function server (t: import('ava').ExecutionContext, onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer((s) => { s.on('error', () => {}); onConn(s) })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const sockets = new Set<net.Socket>()
  srv.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); srv.close(() => resolve()) }))
  return (srv.address() as AddressInfo).port
}

async function closedPort (): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>(resolve => srv.close(() => resolve()))
  return port
}

async function failWith (t: import('ava').ExecutionContext, address: string, port: number, upstream: Record<string, unknown> = {}): Promise<grpc.ServiceError> {
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 't' } },
    // Passive ejection off: every call must try to connect.
    clusters: [{ name: 'c', protocol: 'triple', hosts: [{ address, port }], outlier: { consecutiveFailures: 1000, ejectMs: 1 }, upstream }],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'c' }],
  })
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const err = await t.throwsAsync(unary(client, { message: 'x' })) as grpc.ServiceError
  t.is(err.code, grpc.status.UNAVAILABLE)
  t.notRegex(err.details, /HTTP\/2 error code/)
  // A second call fails the same way (the pool opens a new session each time).
  const again = await t.throwsAsync(unary(client, { message: 'y' })) as grpc.ServiceError
  t.is(again.details, err.details)
  return err
}

test('item 15: a host name that does not resolve', async (t) => {
  const err = await failWith(t, 'no-such-host.invalid', 50051)
  t.regex(err.details, /^upstream connection failed: no-such-host\.invalid:50051: getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid$/)
})

test('item 15: a closed port', async (t) => {
  const port = await closedPort()
  const err = await failWith(t, '127.0.0.1', port)
  t.is(err.details, `upstream connection failed: 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`)
})

test('item 15: a server that accepts and destroys the connection', async (t) => {
  const port = await server(t, (s) => { s.destroy() })
  const err = await failWith(t, '127.0.0.1', port)
  t.regex(err.details, new RegExp(`^upstream connection failed: 127\\.0\\.0\\.1:${port}: (connection closed before the HTTP/2 handshake completed|read ECONNRESET)$`))
})

test('item 15: a server that accepts and never speaks HTTP/2 (connect timeout)', async (t) => {
  const port = await server(t, () => {})
  const err = await failWith(t, '127.0.0.1', port, { connectTimeoutMs: 300 })
  t.is(err.details, `upstream connection failed: 127.0.0.1:${port}: connect timed out after 300 ms`)
})
