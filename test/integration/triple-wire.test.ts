/**
 * Wire-level Triple/gRPC behaviour through the gateway, with a raw node:http2 upstream and
 * client so the exact stream ending is visible (PROTOCOLS.md).
 */
import test from 'ava'
import http2 from 'node:http2'
import { startRawH2, rawRequest, grpcFrame } from '../_peers/raw-h2.js'
import { fileURLToPath } from 'node:url'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

const asyncTag = fileURLToPath(new URL('../_helpers/filters/async-tag.ts', import.meta.url))

const GRPC = { ':path': '/pkg.Svc/Method', 'content-type': 'application/grpc', te: 'trailers' }

test('Triple unary response without trailers ends with END_STREAM, not RST_STREAM', async (t) => {
  const up = await startRawH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/proto' })
    stream.end(Buffer.from('reply-bytes'))
  })
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port]))
  const r = await rawRequest(gw.addresses.triple!.port, { ':path': '/pkg.Svc/Method', 'content-type': 'application/proto', 'tri-protocol-version': '1.0.0' }, Buffer.from('req'))
  t.true(r.ended, 'END_STREAM on the last frame')
  t.is(r.rstCode, null, 'no RST_STREAM (not even NO_ERROR)')
  t.is(r.trailers, null)
  t.is(r.body.toString(), 'reply-bytes')
  t.is(r.headers['content-type'], 'application/proto')
})

test('Trailers-Only error passes as one HEADERS frame', async (t) => {
  const up = await startRawH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'not%20here' }, { endStream: true })
  })
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port]))
  const r = await rawRequest(gw.addresses.triple!.port, GRPC, grpcFrame(Buffer.from('x')))
  t.true(r.ended)
  t.is(r.headers['grpc-status'], '5')
  t.is(r.headers['grpc-message'], 'not%20here')
  t.is(r.trailers, null)
})

test('grpc-timeout is reduced by the time spent in the gateway; compressed flag and grpc-encoding untouched', async (t) => {
  const up = await startRawH2((stream, _h, body) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(body)
  })
  t.teardown(() => up.close())
  // An async filter holds the call at least 400 ms inside the gateway.
  const gw = await startTestGateway(t, tripleConfig([up.port], { filters: [{ name: 'async-tag', module: asyncTag, config: { delayMs: 400 } }] }))
  const frame = grpcFrame(Buffer.from('gzip-bytes-pretend'), true)
  const r = await rawRequest(gw.addresses.triple!.port, { ...GRPC, 'grpc-timeout': '5000m', 'grpc-encoding': 'gzip', 'x-custom': 'v' }, frame)
  t.is(r.trailers?.['grpc-status'], '0')
  t.true(r.body.equals(frame))
  const seen = up.requests[0]
  const ms = Number(String(seen['grpc-timeout']).slice(0, -1))
  t.regex(String(seen['grpc-timeout']), /^\d+m$/)
  // Reduced by at least the 400 ms the call spent in the gateway (a lower bound on the time
  // spent, so a busy machine only makes it smaller); never dropped.
  t.true(ms <= 4600 && ms > 0, `forwarded grpc-timeout ${String(seen['grpc-timeout'])}`)
  t.is(seen['grpc-encoding'], 'gzip')
  t.is(seen['x-custom'], 'v')
  t.is(seen.te, 'trailers')
})

test('upstream RST_STREAM(NO_ERROR) after a complete response is a normal end', async (t) => {
  const up = await startRawH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/proto' })
    stream.write(Buffer.from('all-of-it'))
    // End the response, then reset the stream the way some Triple servers do.
    stream.end(() => stream.close(http2.constants.NGHTTP2_NO_ERROR))
  })
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port]))
  const r = await rawRequest(gw.addresses.triple!.port, { ':path': '/pkg.Svc/M', 'content-type': 'application/proto' }, Buffer.from('q'))
  t.true(r.ended, 'the client sees END_STREAM')
  t.is(r.body.toString(), 'all-of-it')
  t.is(r.rstCode, null, 'the upstream reset is not passed on')
})

test('upstream killed mid-stream: client gets UNAVAILABLE in trailers and the gateway keeps serving', async (t) => {
  let n = 0
  const up = await startRawH2((stream) => {
    n++
    if (n === 1) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
      stream.write(grpcFrame(Buffer.from('part')))
      setTimeout(() => stream.session?.destroy(), 50)
      return
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(grpcFrame(Buffer.from('ok')))
  })
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port]))
  const r1 = await rawRequest(gw.addresses.triple!.port, GRPC, grpcFrame(Buffer.from('x')))
  t.is(r1.headers['grpc-status'] ?? r1.trailers?.['grpc-status'], '14')
  t.regex(String(r1.trailers?.['grpc-message'] ?? r1.headers['grpc-message']), /upstream/)
  const r2 = await rawRequest(gw.addresses.triple!.port, GRPC, grpcFrame(Buffer.from('y')))
  t.is(r2.trailers?.['grpc-status'], '0')
})

test('route miss -> UNIMPLEMENTED (12) with grpc-message; Triple unary gets HTTP 404 + JSON', async (t) => {
  const up = await startRawH2((stream) => { stream.respond({ ':status': 200 }, { endStream: true }) })
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port])
  cfg.routes = [{ name: 'only', match: { service: 'pkg.Known' }, cluster: 'echo' }]
  const gw = await startTestGateway(t, cfg)
  const r = await rawRequest(gw.addresses.triple!.port, { ...GRPC, ':path': '/pkg.Unknown/M' }, grpcFrame(Buffer.from('x')))
  t.is(r.headers['grpc-status'], '12')
  t.regex(String(r.headers['grpc-message']), /no route for triple pkg\.Unknown\/M/)
  const u = await rawRequest(gw.addresses.triple!.port, { ':path': '/pkg.Unknown/M', 'content-type': 'application/json' }, Buffer.from('{}'))
  t.is(Number(u.headers[':status']), 404)
  t.deepEqual(JSON.parse(u.body.toString()), { status: 12, message: 'no route for triple pkg.Unknown/M' })
  t.is(up.requests.length, 0)
})

test('no healthy host -> UNAVAILABLE (14); a dead host is ejected and skipped', async (t) => {
  const good = await startRawH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(grpcFrame(Buffer.from('ok')))
  })
  t.teardown(() => good.close())
  // A port with nothing listening: take one and close it.
  const dead = await startRawH2(() => {})
  const deadPort = dead.port
  await dead.close()

  const only = tripleConfig([deadPort])
  const gw1 = await startTestGateway(t, only)
  const r = await rawRequest(gw1.addresses.triple!.port, GRPC, grpcFrame(Buffer.from('x')))
  t.is(r.headers['grpc-status'], '14')

  const both = tripleConfig([deadPort, good.port])
  ;(both.clusters as Array<Record<string, unknown>>)[0].outlier = { consecutiveFailures: 1, ejectMs: 60000 }
  const gw2 = await startTestGateway(t, both)
  const statuses: string[] = []
  for (let i = 0; i < 10; i++) {
    const x = await rawRequest(gw2.addresses.triple!.port, GRPC, grpcFrame(Buffer.from('x')))
    statuses.push(String(x.trailers?.['grpc-status'] ?? x.headers['grpc-status']))
  }
  // At most the first call may hit the dead host before it is ejected.
  t.true(statuses.slice(1).every(s => s === '0'), statuses.join(','))
})
