/**
 * Issue 9, items 8, 9 and 15 and the Triple buffered-bytes cap: the listener caps streams in
 * total; the upstream pool refuses (RESOURCE_EXHAUSTED, ISTH_ERR_UPSTREAM_OVERLOADED) after a
 * bounded wait instead of queueing without end; upstream connect failures say so; one client
 * that reads nothing never stalls the upstream session the others share.
 */
import test from 'ava'
import http2 from 'node:http2'
import net, { type AddressInfo } from 'node:net'
import {
  H2_PREFACE, closeSession, grpcFields, h2Call, h2DataFrames, h2Headers, h2Settings, h2SettingsAck, hostileSuite, parseH2Frames, sleep,
  startHoldingUpstream, waitFor, echoRequest, grpcMessage, ECHO_SERVICE, H2, type HoldingUpstream, type RawConn,
} from '../_helpers/hostile.js'

const NARROW_STREAMS = 2
const MAX_PENDING = 2
const PENDING_TIMEOUT = 400
const SESSION_STREAMS = 50
const MAX_STREAMS = 120
const BUFFERED = 256 * 1024
const EPS = 25

const narrow: HoldingUpstream = await startHoldingUpstream()
const wide: HoldingUpstream = await startHoldingUpstream()
// Upstreams that fail the connection: nothing listening, and a server that resets on accept.
const refusedPort = await new Promise<number>((resolve) => {
  const s = net.createServer()
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)) })
})
const resetter = net.createServer((socket) => { socket.on('error', () => {}); socket.resetAndDestroy() })
await new Promise<void>(resolve => resetter.listen(0, '127.0.0.1', resolve))
resetter.unref()
const resetPort = (resetter.address() as AddressInfo).port
test.after.always(async () => { await narrow.close(); await wide.close(); resetter.close() })

// A name getaddrinfo refuses locally (a label over 63 bytes): DNS failure without a query leaving the host.
const UNRESOLVABLE = `${'x'.repeat(70)}.isthmus-test`
const noEject = { consecutiveFailures: 100000, ejectMs: 1 }

const suite = hostileSuite(test, {
  triple: { http2: { maxConcurrentStreams: SESSION_STREAMS }, limits: { maxStreams: MAX_STREAMS, maxBufferedBytesPerClient: BUFFERED } },
  clusters: () => [
    { name: 'narrow', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: narrow.port }], upstream: { maxConnections: 1, maxConcurrentStreams: NARROW_STREAMS, maxPending: MAX_PENDING, pendingTimeoutMs: PENDING_TIMEOUT } },
    { name: 'wide', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: wide.port }] },
    { name: 'dns', protocol: 'triple', hosts: [{ address: UNRESOLVABLE, port: 50051 }], outlier: noEject },
    { name: 'refused', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: refusedPort }], outlier: noEject },
    { name: 'reset', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: resetPort }], outlier: noEject },
  ],
  routes: [
    { name: 'to-narrow', match: { protocol: 'triple', service: 'hostile.Narrow' }, cluster: 'narrow', timeoutMs: 15000 },
    { name: 'to-wide', match: { protocol: 'triple', service: 'hostile.Wide' }, cluster: 'wide', timeoutMs: 15000 },
    { name: 'to-dns', match: { protocol: 'triple', service: 'hostile.Dns' }, cluster: 'dns', timeoutMs: 8000 },
    { name: 'to-refused', match: { protocol: 'triple', service: 'hostile.Refused' }, cluster: 'refused', timeoutMs: 8000 },
    { name: 'to-reset', match: { protocol: 'triple', service: 'hostile.Reset' }, cluster: 'reset', timeoutMs: 8000 },
  ],
})

test.serial(`item 9: 10 calls to a host whose pool is full (1 session x ${NARROW_STREAMS} streams, maxPending ${MAX_PENDING}): at most ${NARROW_STREAMS} reach it, the rest get RESOURCE_EXHAUSTED (ISTH_ERR_UPSTREAM_OVERLOADED), the pending ones not before pendingTimeoutMs; trips pending`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'pending')
  const session = http2.connect(`http://127.0.0.1:${gw.triplePort}`)
  session.on('error', () => {})
  t.teardown(() => session.destroy())
  const calls = Array.from({ length: 10 }, () => h2Call(session, '/hostile.Narrow/M', Buffer.alloc(0)))
  let settled = 0
  for (const c of calls) void c.then(() => { settled++ })
  // Refusals come back; the held calls stay open until the upstream is released.
  await waitFor(() => settled >= 10 - NARROW_STREAMS || !gw.alive(), 'the calls over the pool\'s capacity to be answered', 12000).catch(() => {})
  t.true(narrow.maxOpen <= NARROW_STREAMS, `the upstream saw at most ${NARROW_STREAMS} streams at once (saw ${narrow.maxOpen})`)
  narrow.release()
  const results = await Promise.all(calls.map(c => Promise.race([c, sleep(10000).then(() => null)])))
  const done = results.filter(r => r !== null)
  t.is(done.length, 10, 'every call ended')
  const overloaded = done.filter(r => r.grpcStatus === 8)
  t.true(overloaded.length >= 10 - NARROW_STREAMS - MAX_PENDING, `RESOURCE_EXHAUSTED: ${JSON.stringify(done.map(r => [r.grpcStatus, r.grpcMessage]))}`)
  for (const r of overloaded) t.regex(r.grpcMessage, /ISTH_ERR_UPSTREAM_OVERLOADED|upstream pool is full/)
  t.true(overloaded.filter(r => r.endedAt - r.sentAt >= PENDING_TIMEOUT - EPS).length >= Math.min(MAX_PENDING, overloaded.length), 'the pending calls waited their bound')
  t.true(done.filter(r => r.grpcStatus === 0).length <= NARROW_STREAMS + MAX_PENDING, 'only calls that got a slot succeeded')
  t.true(await gw.trips('triple', 'pending') > trips0, 'trips counted')
  await closeSession(session)
  await gw.expectRecovered(t, mark, 'a full upstream pool')
})

test.serial(`item 8: 6 sessions x ${SESSION_STREAMS} held streams (maxStreams ${MAX_STREAMS}): at most ${MAX_STREAMS} are open at once, the rest are refused, trips streams; healthy calls before and after pass (paused while the cap is full by design)`, async (t) => {
  const gw = suite.gw
  for (const l of gw.loops) await l.pause()
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'streams')
  const conns: RawConn[] = []
  t.teardown(() => { for (const c of conns) c.destroy() })
  for (let i = 0; i < 6; i++) {
    const c = await gw.connect(gw.triplePort)
    conns.push(c)
    const frames: Buffer[] = [H2_PREFACE, h2Settings(), h2SettingsAck()]
    // HEADERS without END_STREAM: each stream stays open (body still to come).
    for (let s = 1; s < 2 * SESSION_STREAMS; s += 2) frames.push(h2Headers(s, grpcFields('/hostile.Wide/M')))
    c.write(Buffer.concat(frames))
    await sleep(20)
  }
  const total = 6 * SESSION_STREAMS
  const refusedOf = (c: RawConn): number => {
    const ended = new Set<number>()
    for (const f of parseH2Frames(c.received.subarray(0))) {
      if (f.streamId === 0) continue
      if (f.type === H2.RST_STREAM || (f.type === H2.HEADERS && (f.flags & H2.END_STREAM) !== 0)) ended.add(f.streamId)
    }
    return ended.size
  }
  await waitFor(() => conns.reduce((a, c) => a + refusedOf(c), 0) >= total - MAX_STREAMS || !gw.alive(), 'the streams over the listener cap to be refused', 12000).catch(() => {})
  t.true(gw.alive(), gw.describeExit())
  t.true(wide.maxOpen <= MAX_STREAMS, `the listener let at most ${MAX_STREAMS} streams through at once (upstream saw ${wide.maxOpen})`)
  t.true(conns.reduce((a, c) => a + refusedOf(c), 0) >= total - MAX_STREAMS, 'the excess streams were refused (RST_STREAM or an error status)')
  t.true(await gw.trips('triple', 'streams') > trips0, 'trips counted')
  for (const c of conns) c.destroy()
  wide.release()
  for (const l of gw.loops) l.resume()
  await gw.expectRecovered(t, mark, 'a stream flood')
})

test.serial(`Triple buffered-bytes cap (maxBufferedBytesPerClient ${BUFFERED}): a client that asks for 4 x 6.4 MB server streams and reads nothing is closed (trips buffered_bytes); the upstream session others share is never stalled for it`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'buffered_bytes')
  const c = await gw.connect(gw.triplePort, { read: false })
  t.teardown(() => c.destroy())
  const frames: Buffer[] = [H2_PREFACE, h2Settings(), h2SettingsAck()]
  const msg = grpcMessage(echoRequest({ message: 'greedy', payload: 8 * 1024, count: 800 }))
  for (let s = 1; s <= 7; s += 2) frames.push(h2Headers(s, grpcFields(`/${ECHO_SERVICE}/ServerStream`)), h2DataFrames(s, msg, true))
  c.write(Buffer.concat(frames))
  await waitFor(async () => (await gw.trips('triple', 'buffered_bytes') > trips0 && await gw.scrape('isthmus_downstream_connections', { listener: 'triple' }) <= gw.baseline.triple) || !gw.alive(),
    'the greedy client to be closed', 12000).catch(() => {})
  t.true(await gw.trips('triple', 'buffered_bytes') > trips0, 'trips counted')
  t.true(await gw.scrape('isthmus_downstream_connections', { listener: 'triple' }) <= gw.baseline.triple, 'the greedy client\'s session was closed')
  c.socket.resume()
  await gw.expectRecovered(t, mark, 'a client that reads nothing')
})

for (const [what, service] of [['whose DNS name does not resolve', 'hostile.Dns'], ['that refuses the connection', 'hostile.Refused'], ['that resets on accept', 'hostile.Reset']] as const) {
  test.serial(`item 15: a Triple upstream ${what}: UNAVAILABLE (14) with ISTH_ERR_UPSTREAM_CONNECT, not an HTTP/2 reset code`, async (t) => {
    const gw = suite.gw
    const mark = await gw.mark()
    const session = http2.connect(`http://127.0.0.1:${gw.triplePort}`)
    session.on('error', () => {})
    t.teardown(() => session.destroy())
    for (let i = 0; i < 3; i++) {
      const r = await Promise.race([h2Call(session, `/${service}/M`, Buffer.alloc(0)), sleep(12000).then(() => null)])
      t.not(r, null, 'the call ended')
      if (r === null) continue
      t.is(r.grpcStatus, 14, JSON.stringify(r))
      t.regex(r.grpcMessage, /ISTH_ERR_UPSTREAM_CONNECT|^upstream connection failed/, r.grpcMessage)
    }
    await closeSession(session)
    await gw.expectRecovered(t, mark, `an upstream ${what}`)
  })
}
