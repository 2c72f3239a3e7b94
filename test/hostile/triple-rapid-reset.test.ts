/**
 * Issue 9, item 5 (rapid reset, CVE-2023-44487): resets per session per window trip
 * GOAWAY ENHANCE_YOUR_CALM and the session is destroyed; a stream already reset never
 * opens an upstream stream; the upstream's own defence never ejects the host healthy
 * clients use.
 */
import test from 'ava'
import {
  H2, H2_PREFACE, grpcFields, goawayCodes, h2Frame, h2Goaway, h2Headers, h2RstStream, h2Settings, h2SettingsAck,
  hostileSuite, sleep, startHoldingUpstream, waitFor, ECHO_SERVICE, type HoldingUpstream, type HostileGateway, type RawConn,
} from '../_helpers/hostile.js'

const MAX_RESETS = 20
const PAIRS = 100

// An upstream that counts the streams it is asked to open and never answers.
const sink: HoldingUpstream = await startHoldingUpstream()
test.after.always(() => sink.close())

const suite = hostileSuite(test, {
  // idleTimeoutMs small too: whichever bound a fix uses to close a session nghttp2 sent GOAWAY to, it fires within the test's wait.
  triple: { limits: { rapidReset: { maxResets: MAX_RESETS, windowMs: 10000 }, goawayGraceMs: 500, idleTimeoutMs: 1500 } },
  clusters: () => [{ name: 'sink', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: sink.port }] }],
  routes: [{ name: 'to-sink', match: { protocol: 'triple', service: 'hostile.Sink' }, cluster: 'sink', timeoutMs: 20000 }],
})

/** `n` connections, each: preface, SETTINGS, then PAIRS x (HEADERS + RST_STREAM) in one write; never closed by us. */
async function rapidReset (gw: HostileGateway, n: number, path: string): Promise<RawConn[]> {
  const conns: RawConn[] = []
  for (let i = 0; i < n; i++) {
    const c = await gw.connect(gw.triplePort)
    conns.push(c)
    const frames: Buffer[] = [H2_PREFACE, h2Settings(), h2SettingsAck()]
    for (let s = 1; s < 2 * PAIRS; s += 2) frames.push(h2Headers(s, grpcFields(path)), h2RstStream(s, H2.CANCEL))
    c.write(Buffer.concat(frames))
  }
  return conns
}

test.serial(`item 5: ${PAIRS} HEADERS+RST_STREAM pairs per session (maxResets ${MAX_RESETS}): GOAWAY ENHANCE_YOUR_CALM, the gateway closes each session, trips rapid_reset, opens no upstream stream for a reset stream`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'rapid_reset')
  const conns = await rapidReset(gw, 20, '/hostile.Sink/M')
  t.teardown(() => { for (const c of conns) c.destroy() })
  await waitFor(() => conns.every(c => c.isClosed) || !gw.alive(), 'the gateway to close every rapid-reset session', 12000).catch(() => {})
  t.true(gw.alive(), gw.describeExit())
  t.is(conns.filter(c => !goawayCodes(c.received).includes(H2.ENHANCE_YOUR_CALM)).length, 0, `each session got GOAWAY ENHANCE_YOUR_CALM (got ${JSON.stringify(conns.map(c => goawayCodes(c.received)))})`)
  t.is(conns.filter(c => !c.isClosed).length, 0, 'every attack session was closed by the gateway')
  t.true(await gw.trips('triple', 'rapid_reset') >= trips0 + conns.length, 'isthmus_limit_trips_total{limit="rapid_reset"} counts each session')
  t.is(sink.opened, 0, 'no upstream stream was opened for a stream the client had already reset')
  await gw.expectRecovered(t, mark, 'rapid reset against the sink')
})

test.serial('item 5: 40 rapid-reset sessions aimed at the cluster healthy clients use: they are closed, the shared host is never ejected (zero healthy errors), fds and gauges back to baseline', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const conns = await rapidReset(gw, 40, `/${ECHO_SERVICE}/Unary`)
  t.teardown(() => { for (const c of conns) c.destroy() })
  await waitFor(() => conns.every(c => c.isClosed) || !gw.alive(), 'the gateway to close every rapid-reset session', 12000).catch(() => {})
  t.true(gw.alive(), gw.describeExit())
  t.is(conns.filter(c => !c.isClosed).length, 0, 'every attack session was closed by the gateway')
  t.is(conns.filter(c => !goawayCodes(c.received).includes(H2.ENHANCE_YOUR_CALM)).length, 0, 'each got GOAWAY ENHANCE_YOUR_CALM')
  await gw.expectRecovered(t, mark, 'rapid reset against the healthy cluster')
})

test.serial('item 5: a session the gateway sent GOAWAY to (a 64 KiB DATA frame over the 16 KiB max frame size) is closed by the gateway, not left open', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const conns: RawConn[] = []
  t.teardown(() => { for (const c of conns) c.destroy() })
  for (let i = 0; i < 10; i++) {
    const c = await gw.connect(gw.triplePort)
    conns.push(c)
    c.write(Buffer.concat([H2_PREFACE, h2Settings(), h2SettingsAck(), h2Headers(1, grpcFields('/hostile.Sink/M')), h2Frame(H2.DATA, 0, 1, Buffer.alloc(65536))]))
  }
  await waitFor(() => conns.every(c => c.isClosed) || !gw.alive(), 'the gateway to close the sessions it sent GOAWAY to', 12000).catch(() => {})
  t.true(conns.every(c => goawayCodes(c.received).length > 0), 'each got GOAWAY')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'each was closed by the gateway')
  await gw.expectRecovered(t, mark, 'sessions after GOAWAY')
})

test.serial('item 5: a client that sends GOAWAY while its stream hangs on the upstream is closed after goawayGraceMs (500 ms), not before; trips goaway_grace', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'goaway_grace')
  const conns: RawConn[] = []
  t.teardown(() => { for (const c of conns) c.destroy() })
  const sentAt: number[] = []
  for (let i = 0; i < 10; i++) {
    const c = await gw.connect(gw.triplePort)
    conns.push(c)
    // The stream stays open (no END_STREAM, and the sink never answers); then the client says GOAWAY.
    c.write(Buffer.concat([H2_PREFACE, h2Settings(), h2SettingsAck(), h2Headers(1, grpcFields('/hostile.Sink/M'))]))
    await sleep(50)
    sentAt.push(Date.now())
    c.write(h2Goaway(0, H2.NO_ERROR))
  }
  await waitFor(() => conns.every(c => c.isClosed) || !gw.alive(), 'the gateway to close the sessions that sent GOAWAY', 12000).catch(() => {})
  t.is(conns.filter(c => !c.isClosed).length, 0, 'each was closed by the gateway')
  t.is(conns.filter((c, i) => c.isClosed && c.closedAt - sentAt[i] < 500 - 25).length, 0, 'none before the grace')
  t.true(await gw.trips('triple', 'goaway_grace') >= trips0 + 10, 'trips counted')
  await gw.expectRecovered(t, mark, 'client GOAWAY with a stream open')
})
