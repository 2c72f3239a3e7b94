/**
 * Exactly one audit record per call, whatever the outcome, on both protocols; never a body
 * byte; redacted header values never written. Calls are told apart by an allow-listed header.
 */
import test from 'ava'
import { readFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { verifyTrail } from '../../filters/audit/verify.js'
import { BoltStatus } from '../../gateway/errors.js'
import { echoClient, startEchoServer, unary, type EchoClient } from '../_peers/grpc-echo.js'
import { grpcFrame, rawRequest } from '../_peers/raw-h2.js'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { RawBoltClient, requestFrame, withHeaderMap } from '../_helpers/bolt-frames.js'
import { startTestGateway } from '../_helpers/gateway.js'
import { tempDir } from '../filters/audit/_trail.js'
import { allText, records, until, type AuditLine } from '../filters/audit/_read.js'

const limitFilter = fileURLToPath(new URL('../_helpers/filters/limit-on-header.ts', import.meta.url))
const BODY = 'BODY-MARKER-7f3a'
const SECRET = 'Bearer SECRET-TOKEN-91c2'

async function deadPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

function md (id: string, extra: Record<string, string> = {}): grpc.Metadata {
  const m = new grpc.Metadata()
  m.set('x-audit-id', id)
  for (const [k, v] of Object.entries(extra)) m.set(k, v)
  return m
}

async function status (p: Promise<unknown>): Promise<number> {
  try { await p; return 0 } catch (err) { return (err as grpc.ServiceError).code }
}

function byId (recs: AuditLine[]): Map<string, AuditLine[]> {
  const m = new Map<string, AuditLine[]>()
  for (const r of recs) {
    const id = String(r.call.headers['x-audit-id'] ?? '(none)')
    m.set(id, [...(m.get(id) ?? []), r])
  }
  return m
}

test('one record per call for every outcome, Triple and Bolt; no body bytes; redacted headers absent', async t => {
  const dir = tempDir(t)
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const bolt = await startRawUpstream()
  t.teardown(() => bolt.close())
  const dead = await deadPort()
  const gw = await startTestGateway(t, {
    entity: 'bank',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 't' } },
    clusters: [
      { name: 'echo', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: echo.port }] },
      { name: 'dead', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: dead }] },
      { name: 'bolt-up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: bolt.port }] },
      { name: 'bolt-dead', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: dead }] },
    ],
    routes: [
      { name: 'dead', match: { protocol: 'triple', headers: [{ name: 'x-route', exact: 'dead' }] }, cluster: 'dead' },
      { name: 'slow', match: { protocol: 'triple', headers: [{ name: 'x-route', exact: 'slow' }] }, cluster: 'echo', timeoutMs: 300 },
      { name: 'echo', match: { protocol: 'triple', service: 'isthmus.test.Echo' }, cluster: 'echo' },
      { name: 'bolt-dead', match: { protocol: 'bolt', service: 'com.isthmus.test.Dead' }, cluster: 'bolt-dead', timeoutMs: 3000 },
      { name: 'bolt', match: { protocol: 'bolt', service: 'com.isthmus.test.EchoService' }, cluster: 'bolt-up', timeoutMs: 3000 },
    ],
    filters: [
      { name: 'deny', config: { rules: [{ name: 'test-deny', header: { name: 'x-deny' }, message: 'denied by test' }] } },
      { name: 'limit', module: limitFilter },
    ],
    audit: { enabled: true, dir, flushMs: 10, headers: { allow: ['x-audit-id', 'authorization'] } },
    drain: { timeoutMs: 2000 },
  })
  const client: EchoClient = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const expected = new Map<string, { status: number, code: string | RegExp | null, proto: string }>()
  const want = (id: string, proto: string, s: number, code: string | RegExp | null): void => { expected.set(id, { status: s, code, proto }) }

  // Triple
  want('T-ok', 'triple', 0, null); t.is(await status(unary(client, { message: BODY, payload: Buffer.from(BODY) }, md('T-ok', { authorization: SECRET }))), 0)
  want('T-upstream-error', 'triple', 5, null); t.is(await status(unary(client, { message: BODY, failCode: 5 }, md('T-upstream-error'))), 5)
  want('T-denied', 'triple', 7, 'ISTH_ERR_FILTER_DENIED'); t.is(await status(unary(client, { message: BODY }, md('T-denied', { 'x-deny': '1' }))), 7)
  want('T-limited', 'triple', 8, 'ISTH_ERR_RATE_LIMITED'); t.is(await status(unary(client, { message: BODY }, md('T-limited', { 'x-limit': '1' }))), 8)
  want('T-upstream-down', 'triple', 14, /^ISTH_ERR_UPSTREAM_(CONNECT|RESET)$/); t.is(await status(unary(client, { message: BODY }, md('T-upstream-down', { 'x-route': 'dead' }))), 14)
  // The route's deadline passes in the gateway; the client's own deadline races the gateway's
  // (the client may reset first: then the record says CANCELLED).
  want('T-deadline', 'triple', 4, 'ISTH_ERR_UPSTREAM_TIMEOUT'); t.is(await status(unary(client, { message: BODY, delayMs: 5000 }, md('T-deadline', { 'x-route': 'slow' }))), 4)
  want('T-client-deadline', 'triple', -2, null); t.is(await status(unary(client, { message: BODY, delayMs: 5000 }, md('T-client-deadline'), { deadline: Date.now() + 300 })), 4)
  want('T-cancelled', 'triple', 1, null)
  const calls = echo.calls
  const cancelled = new Promise<number>((resolve) => {
    const c = client.unary({ message: BODY, delayMs: 10000 }, md('T-cancelled'), {}, (err) => resolve(err?.code ?? 0))
    void until(() => echo.calls > calls).then(() => c.cancel())
  })
  t.is(await cancelled, 1)
  await until(() => echo.cancelled.includes('unary'))
  const port = gw.addresses.triple!.port
  want('T-route-miss', 'triple', 12, 'ISTH_ERR_ROUTE_NOT_FOUND')
  t.is((await rawRequest(port, { ':path': '/other.Service/Call', 'content-type': 'application/grpc', te: 'trailers', 'x-audit-id': 'T-route-miss' }, grpcFrame(Buffer.from(BODY)))).headers['grpc-status'], '12')
  // A :path that is not /service/method: over HTTP/1.1 a call the gateway answers itself;
  // over HTTP/2 nghttp2 resets the stream before it exists (not a call, no record).
  want('T-bad-path', 'triple', 13, 'ISTH_ERR_TRIPLE_BAD_REQUEST')
  t.regex(await http1(port, `POST * HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-audit-id: T-bad-path\r\ncontent-length: ${BODY.length}\r\n\r\n${BODY}`), /^HTTP\/1\.1 400/)
  t.is((await rawRequest(port, { ':path': 'no-slash', 'content-type': 'application/grpc', te: 'trailers', 'x-audit-id': 'T-h2-bad-path' }, grpcFrame(Buffer.from(BODY)))).rstCode, 1)

  // Bolt (raw frames through sofa-bolt-node's encoder; the header map carries the id)
  const bc = new RawBoltClient(gw.addresses.bolt!.port)
  t.teardown(() => bc.close())
  await bc.ready()
  const frame = (id: number, tag: string, service: string, extra: Record<string, string> = {}, o: { oneway?: boolean, timeout?: number } = {}): Buffer =>
    withHeaderMap(requestFrame({ id, service, args: [BODY], ...o }), { service, 'x-audit-id': tag, ...extra })
  want('B-ok', 'bolt', BoltStatus.SUCCESS, null); bc.write(frame(1, 'B-ok', 'com.isthmus.test.EchoService:1.0'))
  want('B-route-miss', 'bolt', BoltStatus.NO_PROCESSOR, 'ISTH_ERR_ROUTE_NOT_FOUND'); bc.write(frame(2, 'B-route-miss', 'com.isthmus.test.Nope:1.0'))
  want('B-denied', 'bolt', BoltStatus.SERVER_EXCEPTION, 'ISTH_ERR_FILTER_DENIED'); bc.write(frame(3, 'B-denied', 'com.isthmus.test.EchoService:1.0', { 'x-deny': '1' }))
  want('B-limited', 'bolt', BoltStatus.SERVER_THREADPOOL_BUSY, 'ISTH_ERR_RATE_LIMITED'); bc.write(frame(4, 'B-limited', 'com.isthmus.test.EchoService:1.0', { 'x-limit': '1' }))
  want('B-upstream-down', 'bolt', BoltStatus.ERROR_COMM, 'ISTH_ERR_UPSTREAM_CONNECT'); bc.write(frame(5, 'B-upstream-down', 'com.isthmus.test.Dead:1.0'))
  want('B-oneway', 'bolt', BoltStatus.SUCCESS, null); bc.write(frame(6, 'B-oneway', 'com.isthmus.test.EchoService:1.0', {}, { oneway: true }))
  await bc.until(() => [1, 2, 3, 4, 5].every(id => bc.byId(id) !== undefined))
  await until(() => bolt.received >= 2)
  // No answer from the upstream: the call ends at its deadline; a client that goes away
  // ends its calls at once (CONNECTION_CLOSED, no gateway error code), as a Triple cancel does.
  bolt.answerRequests = false
  want('B-timeout', 'bolt', BoltStatus.TIMEOUT, 'ISTH_ERR_UPSTREAM_TIMEOUT'); bc.write(frame(7, 'B-timeout', 'com.isthmus.test.EchoService:1.0', {}, { timeout: 300 }))
  const gone = new RawBoltClient(gw.addresses.bolt!.port)
  await gone.ready()
  want('B-client-gone', 'bolt', BoltStatus.CONNECTION_CLOSED, null); gone.write(frame(1, 'B-client-gone', 'com.isthmus.test.EchoService:1.0', {}, { timeout: 300 }))
  await until(() => bolt.received >= 4)
  gone.close()
  await bc.until(() => bc.byId(7) !== undefined)
  // A codec error is not a call (no service, no request id to answer): no record.
  const bad = new RawBoltClient(gw.addresses.bolt!.port)
  await bad.ready()
  bad.write(Buffer.from([0x01, 0x01, 0x00, 0x01, 0x01, 0, 0, 0, 9, 1, 0, 0, 0x0b, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0]))
  await bad.until(() => bad.closed)

  const recIds = (): number => records(dir).length
  await until(() => recIds() >= expected.size)
  await gw.close()
  const recs = records(dir)
  const grouped = byId(recs)
  for (const [id, e] of expected) {
    const list = grouped.get(id) ?? []
    t.is(list.length, 1, `${id}: one record`)
    if (list.length !== 1) continue
    const c = list[0].call
    t.is(c.proto, e.proto, id)
    if (e.status === -2) { t.true(c.status === 1 || c.status === 4, `${id}: CANCELLED or DEADLINE_EXCEEDED`); continue }
    t.is(c.status, e.status, id)
    if (e.code instanceof RegExp) t.regex(c.code, e.code, id); else t.is(c.code, e.code, id)
  }
  t.is(recs.length, expected.size, 'no record besides the calls made')
  const ok = grouped.get('T-ok')![0].call
  t.like(ok, { svc: 'isthmus.test.Echo', method: 'Unary', route: 'echo', cluster: 'echo', host: `127.0.0.1:${echo.port}`, shard: -1, stress: false, mirrored: false })
  t.true(ok.in > BODY.length && ok.out > BODY.length)
  t.is(ok.headers.authorization, '[redacted]')
  t.like(grouped.get('T-limited')![0].call.decisions[0], { filter: 'limit-on-header', action: 'limit' })
  t.like(grouped.get('B-ok')![0].call, { svc: 'com.isthmus.test.EchoService', version: '1.0', route: 'bolt', cluster: 'bolt-up' })
  const text = allText(dir)
  t.false(text.includes(BODY), 'no body bytes in any audit file')
  t.false(text.includes('SECRET-TOKEN'), 'no redacted header value in any audit file')
  const v = verifyTrail(allFiles(dir), null)
  t.deepEqual(v.problems, [])
  t.true(v.ok)
})

// A request that arrives after GoAway is refused through a Call (BoltCall.refuse), so it is
// counted and recorded like any other outcome.
test('Bolt: a request refused after GoAway (ISTH_ERR_GATEWAY_DRAINING) gets its record', async t => {
  const dir = tempDir(t)
  const bolt = await startRawUpstream()
  t.teardown(() => bolt.close())
  bolt.answerRequests = false
  const gw = await startTestGateway(t, {
    entity: 'bank',
    listeners: { bolt: { host: '127.0.0.1', port: 0, goAwayOnDrain: true }, admin: { host: '127.0.0.1', port: 0, token: 't' } },
    clusters: [{ name: 'bolt-up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: bolt.port }] }],
    routes: [{ name: 'bolt', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'bolt-up', timeoutMs: 3000 }],
    audit: { enabled: true, dir, flushMs: 10 },
    drain: { timeoutMs: 2000 },
  })
  const bc = new RawBoltClient(gw.addresses.bolt!.port)
  t.teardown(() => bc.close())
  await bc.ready()
  bc.write(requestFrame({ id: 1, timeout: 1000 }))
  await until(() => bolt.received === 1)
  const draining = gw.drain()
  await bc.until(() => bc.frames.some(f => f.cmd === 100))
  bc.write(requestFrame({ id: 2, timeout: 1000 }))
  await bc.until(() => bc.byId(2) !== undefined)
  await draining
  await gw.close()
  t.is(records(dir).length, 2)
})

function http1 (port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(request))
    let out = ''
    s.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\r\n\r\n')) { s.destroy(); resolve(out) } })
    s.on('error', reject)
  })
}

function allFiles (dir: string): Array<{ name: string, text: string }> {
  return ['audit-000001.ndjson', 'checkpoints.ndjson'].map(n => ({ name: n, text: readFileSync(`${dir}/${n}`, 'utf8') }))
}
