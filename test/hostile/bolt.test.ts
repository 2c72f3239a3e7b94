/**
 * Issue 9, items 6, 7 (Bolt) and 10, and the Bolt connection caps: one slow reader never
 * stalls the shared upstream; a silent, trickling or half-sent frame is closed by its own
 * bound; method rules fail closed for sofa-rpc-node calls (method only in the hessian body).
 */
import test from 'ava'
import { boltRequest, boltRequestMethodLast, boltV1Responses } from '../_helpers/hostile-bolt.js'
import {
  hostileSuite, openMany, sleep, sofaClient, sofaConsumer, trickle, waitFor,
  SOFA_SERVICE, SOFA_SERVICE_B, SOFA_VERSION, type RawConn,
} from '../_helpers/hostile.js'

const FIRST_BYTE = 1500
const FRAME = 1500
const WRITE_STALL = 500
const BUFFERED = 1 << 20
const PER_SOURCE = 15
const MAX_CONNECTIONS = 40
const EPS = 25
// Bounds are well above the gateway's own processing lag under load: a test that asserts which
// bound closed a connection must not see a neighbouring bound trip first on a busy machine.
/** Attack connections per test, all from one source: below maxConnectionsPerSource, so only the bound under test closes them. */
const N = 12

const suite = hostileSuite(test, {
  bolt: {
    // Long enough that only the bounds under test can close the attack connections first.
    idleTimeoutMs: 10000,
    limits: {
      firstByteTimeoutMs: FIRST_BYTE, frameTimeoutMs: FRAME, writeStallMs: WRITE_STALL, maxBufferedBytesPerClient: BUFFERED,
      maxConnectionsPerSource: PER_SOURCE, maxConnections: MAX_CONNECTIONS,
    },
  },
  // Healthy calls fail well before the old 10 s write-stall hold would let go of the upstream.
  healthy: { deadlineMs: 5000 },
  routes: [{ name: 'bolt-b', match: { protocol: 'bolt', service: SOFA_SERVICE_B }, cluster: 'sofa', timeoutMs: 20000 }],
  filters: [{ name: 'deny', config: { rules: [{ name: 'no-plus', service: SOFA_SERVICE, method: 'plus*' }] } }],
  extra: { policies: { default: 'allow', rules: [{ name: 'no-plus-b', action: 'deny', to: { service: SOFA_SERVICE_B, method: 'plus*' } }] } },
})

const SERVICE_ID = `${SOFA_SERVICE}:${SOFA_VERSION}`

/** Open time measured from before connect(): the gateway's timers start later, so this never undercounts (load-safe lower bound). */
function openFor (c: RawConn): number { return c.closedAt - c.openedAt }

async function closedAll (conns: RawConn[], what: string): Promise<void> {
  await waitFor(() => conns.every(c => c.isClosed) || !suite.gw.alive(), what, 12000).catch(() => {})
}

test.serial('item 6: 4 Bolt connections that ask for 40 x 256 KiB responses each and never read: they are closed (buffered_bytes or write_stall), the shared upstream is never held for them (zero healthy errors)', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('bolt', 'buffered_bytes') + await gw.trips('bolt', 'write_stall')
  const conns: RawConn[] = []
  for (let i = 0; i < 4; i++) {
    const first = Buffer.concat(Array.from({ length: 40 }, (_, k) => boltRequest({ id: k + 1, service: SERVICE_ID, method: 'big', args: [256 * 1024], timeout: 30000 })))
    const c = await gw.connect(gw.boltPort, { localAddress: '127.0.0.2', read: false, first })
    conns.push(c)
  }
  t.teardown(() => { for (const c of conns) c.destroy() })
  // The reader never reads: the gateway's own gauge is what shows its connections closed.
  await waitFor(async () => await gw.scrape('isthmus_downstream_connections', { listener: 'bolt' }) <= gw.baseline.bolt || !gw.alive(), 'the slow readers to be closed', 12000).catch(() => {})
  t.true(await gw.scrape('isthmus_downstream_connections', { listener: 'bolt' }) <= gw.baseline.bolt, 'every slow-reader connection was closed by the gateway')
  t.true(await gw.trips('bolt', 'buffered_bytes') + await gw.trips('bolt', 'write_stall') >= trips0 + conns.length, `each closure counted (buffered_bytes or write_stall): ${await gw.tripsSummary()}`)
  for (const c of conns) c.socket.resume()
  await gw.expectRecovered(t, mark, 'slow Bolt readers')
})

test.serial(`item 7: ${N} silent TCP connections on the Bolt port are closed after firstByteTimeoutMs (${FIRST_BYTE} ms), not before; trips first_byte`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('bolt', 'first_byte')
  const conns = await openMany(gw.boltPort, N, { localAddress: '127.0.0.3' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  await closedAll(conns, 'the silent connections to be closed')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'all silent connections closed')
  t.is(conns.filter(c => c.isClosed && openFor(c) < FIRST_BYTE - EPS).length, 0, 'none closed before the bound')
  t.true(await gw.trips('bolt', 'first_byte') >= trips0 + N, 'trips counted')
  await gw.expectRecovered(t, mark, 'silent Bolt connections')
})

test.serial(`item 7: ${N} Bolt frames trickled 1 byte / 100 ms are closed after frameTimeoutMs (${FRAME} ms) from their first byte (trickling does not extend it), not before; trips frame`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('bolt', 'frame')
  const conns = await openMany(gw.boltPort, N, { localAddress: '127.0.0.4' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  const frame = boltRequest({ id: 7, service: SERVICE_ID, method: 'echo', args: ['y'.repeat(4096)] })
  const trickling = conns.map(c => trickle(c, frame, 100))
  await closedAll(conns, 'the trickled frames to be closed')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'all trickling connections closed')
  t.is(conns.filter(c => c.isClosed && openFor(c) < FRAME - EPS).length, 0, 'none closed before the bound')
  t.true(await gw.trips('bolt', 'frame') >= trips0 + N, 'trips counted')
  for (const c of conns) c.destroy()
  await Promise.all(trickling)
  await gw.expectRecovered(t, mark, 'trickled Bolt frames')
})

test.serial(`item 7: ${N} Bolt frames sent half then silence are closed after frameTimeoutMs (${FRAME} ms), not before (not by the 10 s idle timer); trips frame`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('bolt', 'frame')
  const conns = await openMany(gw.boltPort, N, { localAddress: '127.0.0.5' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  const frame = boltRequest({ id: 9, service: SERVICE_ID, method: 'echo', args: ['half'] })
  for (const c of conns) c.write(frame.subarray(0, Math.floor(frame.length / 2)))
  await closedAll(conns, 'the half frames to be closed')
  t.is(conns.filter(c => !c.isClosed).length, 0, 'all half-frame connections closed')
  t.is(conns.filter(c => c.isClosed && openFor(c) < FRAME - EPS).length, 0, 'none closed before the bound')
  t.true(await gw.trips('bolt', 'frame') >= trips0 + N, 'trips counted (the frame deadline closed them, not the idle timer)')
  await gw.expectRecovered(t, mark, 'half-sent Bolt frames')
})

test.serial(`caps: 40 Bolt connections from one source (maxConnectionsPerSource ${PER_SOURCE}): the excess is refused, trips connections_per_source`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('bolt', 'connections_per_source')
  const conns = await openMany(gw.boltPort, 40, { localAddress: '127.0.0.2' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  await waitFor(async () => await gw.trips('bolt', 'connections_per_source') >= trips0 + 40 - PER_SOURCE || !gw.alive(), 'refusals counted', 12000).catch(() => {})
  t.true(await gw.trips('bolt', 'connections_per_source') >= trips0 + 40 - PER_SOURCE, 'each refused connection counted in connections_per_source')
  await closedAll(conns, 'the admitted silent connections to be closed')
  await gw.expectRecovered(t, mark, 'a per-source Bolt connection flood')
})

test.serial(`caps: a source's count drops as its connections close: after its flood, 127.0.0.2 gets ${PER_SOURCE} connections again, none refused`, async (t) => {
  const gw = suite.gw
  const trips0 = await gw.trips('bolt', 'connections_per_source')
  const conns = await openMany(gw.boltPort, PER_SOURCE, { localAddress: '127.0.0.2' })
  t.teardown(() => { for (const c of conns) c.destroy() })
  await closedAll(conns, 'the silent connections to be closed (first-byte bound)')
  t.is(await gw.trips('bolt', 'connections_per_source'), trips0, 'no connection of the second round refused')
})

test.serial(`caps: 60 silent Bolt connections from 6 sources (maxConnections ${MAX_CONNECTIONS}): the excess is refused, trips connections`, async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const trips0 = await gw.trips('bolt', 'connections')
  const conns: RawConn[] = []
  for (let i = 0; i < 6; i++) conns.push(...await openMany(gw.boltPort, 10, { localAddress: `127.0.2.${i + 1}` }))
  t.teardown(() => { for (const c of conns) c.destroy() })
  const excess = 60 - (MAX_CONNECTIONS - 1)
  await waitFor(async () => await gw.trips('bolt', 'connections') >= trips0 + excess || !gw.alive(), 'refusals counted', 12000).catch(() => {})
  t.true(await gw.trips('bolt', 'connections') >= trips0 + excess, 'each refused connection counted in connections')
  await closedAll(conns, 'the admitted silent connections to be closed')
  await gw.expectRecovered(t, mark, 'a Bolt connection flood')
})

test.serial('item 10: a deny rule `method: plus*` refuses sofa-rpc-node\'s plus(2,3) (the client gets an error, never 5); other methods pass', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const client = sofaClient()
  t.teardown(() => client.close())
  const consumer = await sofaConsumer(client, gw.boltPort, SOFA_SERVICE, SOFA_VERSION)
  const before = gw.up.sofa.hits.get('plus') ?? 0
  const r = await consumer.invoke('plus', [2, 3], { responseTimeout: 5000 }).then(v => ({ value: v }), (err: Error) => ({ error: err.message }))
  t.false('value' in r && r.value === 5, `plus(2,3) must be refused, got ${JSON.stringify(r)}`)
  t.true('error' in r, `the client gets an error: ${JSON.stringify(r)}`)
  t.is(gw.up.sofa.hits.get('plus') ?? 0, before, 'the upstream never ran plus')
  t.is(await consumer.invoke('echo', ['still fine'], { responseTimeout: 5000 }), 'still fine')
  await client.close()
  await gw.expectRecovered(t, mark, 'the deny rule')
})

test.serial('item 10: a policy rule denying `method: plus*` refuses sofa-rpc-node\'s plus(2,3) on that service', async (t) => {
  const gw = suite.gw
  const client = sofaClient()
  t.teardown(() => client.close())
  const consumer = await sofaConsumer(client, gw.boltPort, SOFA_SERVICE_B, SOFA_VERSION)
  const before = gw.up.sofa.hits.get('plus') ?? 0
  const r = await consumer.invoke('plus', [2, 3], { responseTimeout: 5000 }).then(v => ({ value: v }), (err: Error) => ({ error: err.message }))
  t.true('error' in r, `plus(2,3) must be refused by the policy, got ${JSON.stringify(r)}`)
  t.is(gw.up.sofa.hits.get('plus') ?? 0, before, 'the upstream never ran plus')
  t.is(await consumer.invoke('echo', ['b fine'], { responseTimeout: 5000 }), 'b fine')
})

test.serial('item 10: fail closed: a plus(2,3) frame whose hessian class definition puts a 1 MiB targetAppName before methodName (the upstream runs it) is still refused (read it or refuse it, never pass the rule)', async (t) => {
  const gw = suite.gw
  const before = gw.up.sofa.hits.get('plus') ?? 0
  const c = await gw.connect(gw.boltPort)
  t.teardown(() => c.destroy())
  c.write(boltRequestMethodLast({ id: 41, service: SERVICE_ID, method: 'plus', args: [2, 3], targetAppName: 'a'.repeat(1 << 20) }))
  await waitFor(() => boltV1Responses(c.received).length > 0 || c.isClosed, 'an answer or a close', 12000).catch(() => {})
  await sleep(200)
  const frames = boltV1Responses(c.received)
  t.is(gw.up.sofa.hits.get('plus') ?? 0, before, 'the upstream never ran plus')
  t.false(frames.some(f => f.requestId === 41 && f.status === 0), `no SUCCESS response: ${JSON.stringify(frames)}`)
})
