/**
 * Issue 9, item 7 (Triple) and the Triple connection caps: slowloris of every kind is closed
 * by its own bound (never before it), each bound counts its trips, and a flood of silent
 * connections cannot starve new calls or /ready. Attack connections come from other loopback
 * addresses (127.0.0.x) so per-source caps never touch the healthy clients on 127.0.0.1.
 */
import test from 'ava'
import http2 from 'node:http2'
import {
  H2, H2_PREFACE, grpcFields, grpcMessage, h2Frame, h2Settings, hostileSuite, httpCall, openMany, trickle, waitFor,
  echoRequest, ECHO_SERVICE, type RawConn,
} from '../_helpers/hostile.js'

const FIRST_BYTE = 1000
const HEADERS = 1500
const REQUEST = 2500
const IDLE = 1500
const PER_SOURCE = 15
const MAX_CONNECTIONS = 60
/** Timer and clock granularity between two processes. */
const EPS = 25
// Bounds are well above the gateway's own processing lag under load: a test that asserts which
// bound closed a connection must not see a neighbouring bound trip first on a busy machine.
/** Attack connections per test, all from one source: below maxConnectionsPerSource, so only the bound under test closes them. */
const N = 12

const suite = hostileSuite(test, {
  triple: {
    limits: {
      firstByteTimeoutMs: FIRST_BYTE, headersTimeoutMs: HEADERS, requestTimeoutMs: REQUEST, idleTimeoutMs: IDLE,
      goawayGraceMs: 300, maxConnectionsPerSource: PER_SOURCE, maxConnections: MAX_CONNECTIONS,
    },
  },
})

const PING = h2Frame(H2.PING, 0, 0, Buffer.alloc(8, 7))

/** Open time measured from before connect(): the gateway's timers start later, so this never undercounts (load-safe lower bound). */
function openFor (c: RawConn): number { return c.closedAt - c.openedAt }

async function closedAll (conns: RawConn[], what: string): Promise<void> {
  await waitFor(() => conns.every(c => c.isClosed) || !suite.gw.alive(), what, 12000).catch(() => {})
}

test.serial(`item 7: ${N} silent TCP connections on the Triple port are closed after firstByteTimeoutMs (${FIRST_BYTE} ms), not before; trips first_byte`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'first_byte')
  const conns = await openMany(gw.triplePort, N, { localAddress: '127.0.0.3' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  await closedAll(conns, 'the silent connections to be closed')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'all silent connections closed')
  t.is(conns.filter(c => c.isClosed && openFor(c) < FIRST_BYTE - EPS).length, 0, 'none closed before the bound')
  t.true(await gw.trips('triple', 'first_byte') >= trips0 + N, 'trips counted')
  await gw.expectRecovered(t, mark, 'silent connections')
})

test.serial(`item 7: ${N} h2c sessions that send the preface then trickle PING bytes (100 ms/byte) and never open a stream are closed after headersTimeoutMs (${HEADERS} ms), not before; trips headers`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'headers')
  const conns = await openMany(gw.triplePort, N, { localAddress: '127.0.0.4' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  const bytes = Buffer.concat(Array.from({ length: 20 }, () => PING))
  for (const c of conns) c.write(Buffer.concat([H2_PREFACE, h2Settings()]))
  const trickling = conns.map(c => trickle(c, bytes, 100))
  await closedAll(conns, 'the trickling h2 sessions to be closed')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'all trickling sessions closed')
  t.is(conns.filter(c => c.isClosed && openFor(c) < HEADERS - EPS).length, 0, 'none closed before the bound')
  t.true(await gw.trips('triple', 'headers') >= trips0 + N, 'trips counted')
  for (const c of conns) c.destroy()
  await Promise.all(trickling)
  await gw.expectRecovered(t, mark, 'h2 preface slowloris')
})

test.serial(`item 7: ${N} HTTP/1.1 requests whose headers trickle in (100 ms/byte) are closed after headersTimeoutMs (${HEADERS} ms), not before; trips headers`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'headers')
  const conns = await openMany(gw.triplePort, N, { localAddress: '127.0.0.5' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  for (const c of conns) c.write(`POST /${ECHO_SERVICE}/Unary HTTP/1.1\r\nhost: gateway\r\nx-slow: `)
  const trickling = conns.map(c => trickle(c, Buffer.alloc(200, 0x61), 100))
  await closedAll(conns, 'the slow-header requests to be closed')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'all slow-header connections closed')
  t.is(conns.filter(c => c.isClosed && openFor(c) < HEADERS - EPS).length, 0, 'none closed before the bound')
  t.true(await gw.trips('triple', 'headers') >= trips0 + N, 'trips counted')
  for (const c of conns) c.destroy()
  await Promise.all(trickling)
  await gw.expectRecovered(t, mark, 'HTTP/1.1 header slowloris')
})

test.serial(`item 7: ${N} HTTP/1.1 requests whose body trickles in (100 ms/byte) are closed after requestTimeoutMs (${REQUEST} ms), not before; trips request`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'request')
  const conns = await openMany(gw.triplePort, N, { localAddress: '127.0.0.6' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  for (const c of conns) c.write(`POST /${ECHO_SERVICE}/Unary HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ntri-protocol-version: 1.0.0\r\ncontent-length: 1000\r\n\r\n{`)
  const trickling = conns.map(c => trickle(c, Buffer.alloc(999, 0x20), 100))
  await closedAll(conns, 'the slow-body requests to be closed')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'all slow-body connections closed')
  t.is(conns.filter(c => c.isClosed && openFor(c) < REQUEST - EPS).length, 0, 'none closed before the bound')
  t.true(await gw.trips('triple', 'request') >= trips0 + N, 'trips counted')
  for (const c of conns) c.destroy()
  await Promise.all(trickling)
  await gw.expectRecovered(t, mark, 'HTTP/1.1 body slowloris')
})

test.serial(`item 7: 10 h2c sessions left idle after one call get GOAWAY and are closed after idleTimeoutMs (${IDLE} ms), not before; trips idle`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'idle')
  const sessions = await Promise.all(Array.from({ length: 10 }, async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.triplePort}`, { localAddress: '127.0.0.7' } as http2.SecureClientSessionOptions)
    // The gateway's idle timer starts when the stream ends, after this moment (a load-safe lower bound).
    const state = { s, goaway: -1, idleSince: Date.now(), closedAt: 0 }
    s.on('error', () => {})
    s.on('goaway', (code: number) => { state.goaway = code })
    s.on('close', () => { state.closedAt = Date.now() })
    const req = s.request(Object.fromEntries(grpcFields(`/${ECHO_SERVICE}/Unary`)))
    req.on('error', () => {})
    req.resume()
    req.end(grpcMessage(echoRequest({ message: 'once' })))
    await new Promise(resolve => req.on('close', resolve))
    return state
  }))
  t.teardown(() => { for (const x of sessions) x.s.destroy() })
  await waitFor(() => sessions.every(x => x.closedAt !== 0) || !gw.alive(), 'the idle sessions to be closed', 12000).catch(() => {})
  t.is(sessions.filter(x => x.closedAt === 0).length, 0, 'all idle sessions closed')
  t.is(sessions.filter(x => x.goaway === -1).length, 0, 'each got GOAWAY first')
  t.is(sessions.filter(x => x.closedAt !== 0 && x.closedAt - x.idleSince < IDLE - EPS).length, 0, 'none closed before the bound (measured from before the call)')
  t.true(await gw.trips('triple', 'idle') >= trips0 + 10, 'trips counted')
  await gw.expectRecovered(t, mark, 'idle h2 sessions')
})

test.serial(`caps: 40 connections from one source (maxConnectionsPerSource ${PER_SOURCE}): the excess is refused at once, trips connections_per_source; healthy clients on another source unaffected`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'connections_per_source')
  const conns = await openMany(gw.triplePort, 40, { localAddress: '127.0.0.2' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  await waitFor(async () => await gw.trips('triple', 'connections_per_source') >= trips0 + 40 - PER_SOURCE || !gw.alive(), `${40 - PER_SOURCE} refusals counted`, 12000).catch(() => {})
  t.true(await gw.trips('triple', 'connections_per_source') >= trips0 + 40 - PER_SOURCE, 'each refused connection counted in connections_per_source')
  const ready = await httpCall(gw.adminPort, 'GET', '/ready')
  t.is(ready.status, 200, '/ready still answers')
  await closedAll(conns, 'the admitted silent connections to be closed')
  await gw.expectRecovered(t, mark, 'a per-source connection flood')
})

test.serial(`caps: 80 silent connections from 8 sources (maxConnections ${MAX_CONNECTIONS}): the excess is refused at once, trips connections; /ready and healthy calls keep working`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('triple', 'connections')
  const conns: RawConn[] = []
  for (let i = 0; i < 8; i++) conns.push(...await openMany(gw.triplePort, 10, { localAddress: `127.0.1.${i + 1}` }))
  t.teardown(() => { for (const c of conns) c.destroy() })
  // The healthy grpc-js connection holds one slot.
  const excess = 80 - (MAX_CONNECTIONS - 1)
  await waitFor(async () => await gw.trips('triple', 'connections') >= trips0 + excess || !gw.alive(), `${excess} refusals counted`, 12000).catch(() => {})
  t.true(await gw.trips('triple', 'connections') >= trips0 + excess, 'each refused connection counted in connections')
  const ready = await httpCall(gw.adminPort, 'GET', '/ready')
  t.is(ready.status, 200, '/ready still answers')
  await closedAll(conns, 'the admitted silent connections to be closed')
  await gw.expectRecovered(t, mark, 'a connection flood')
})
