/**
 * Zone flip (failover): one PUT /v1/ldc moves shard ranges while 2,000+ calls are in flight.
 * Zero calls fail, the calls in flight finish where they started, and every call started after
 * the PUT answered lands in the new zone.
 */
import test from 'ava'
import { startTestGateway } from '../_helpers/gateway.js'
import { callTriple, ldcClient, startZoneTriple, PKG, type LdcClient } from '../_peers/zone-peers.js'

const IN_FLIGHT = 2400
const AFTER = 400
const CHANNELS = 8

async function until (pred: () => boolean, what: string, ms = 60000): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

test('a zone flip under 2,000+ calls in flight: zero failures, every call after the flip lands in the new zone', async (t) => {
  const rz00 = await startZoneTriple('RZ00')
  const rz01 = await startZoneTriple('RZ01')
  t.teardown(() => rz00.close())
  t.teardown(() => rz01.close())
  const table = (zoneOfLow: string) => [{ from: 0, to: 49, zone: zoneOfLow }, { from: 50, to: 99, zone: 'RZ01' }]
  const gw = await startTestGateway(t, {
    entity: 'acme',
    listeners: {
      triple: { port: 0, http2: { maxConcurrentStreams: 4000 } },
      admin: { port: 0, token: 'tok' },
    },
    clusters: [{
      name: 'app', protocol: 'triple', subsetFallback: { policy: 'none' },
      upstream: { maxConcurrentStreams: 1000, maxConnections: 8 },
      hosts: [{ address: '127.0.0.1', port: rz00.port, zone: 'RZ00' }, { address: '127.0.0.1', port: rz01.port, zone: 'RZ01' }],
    }],
    routes: [{ name: 'all', match: { service: { prefix: `${PKG}.` } }, cluster: 'app', timeoutMs: 120000 }],
    filters: [{ name: 'ldc' }],
    ldc: { uid: { header: 'x-ldc-uid' }, table: table('RZ00'), services: { [`${PKG}.Account`]: 'rzone' } },
  })
  const clients: LdcClient[] = []
  for (let i = 0; i < CHANNELS; i++) {
    // Distinct channels (grpc-js shares a channel per target unless options differ).
    const c = ldcClient(gw.addresses.triple!.port, 'Account', { 'grpc.channel_id': i })
    clients.push(c)
    t.teardown(() => c.close())
  }
  interface Outcome { after: boolean, servedBy?: string, error?: string }
  const outcomes: Outcome[] = []
  let flipped = false
  const launch = (i: number): Promise<void> => {
    const after = flipped
    // Shards 00-49: RZ00 before the flip, RZ01 after it.
    const uid = `2088${String(10000 + i)}${String(i % 50).padStart(2, '0')}`
    return callTriple(clients[i % CHANNELS], { 'x-ldc-uid': uid }, { holdMs: 120000 })
      .then(r => { outcomes.push({ after, servedBy: r.servedBy }) }, (err: Error) => { outcomes.push({ after, error: err.message }) })
  }
  const all: Array<Promise<void>> = []
  for (let i = 0; i < IN_FLIGHT; i++) all.push(launch(i))
  await until(() => rz00.held >= IN_FLIGHT, `${IN_FLIGHT} calls held in RZ00`)
  t.true(rz00.held >= 2000)

  const admin = `http://127.0.0.1:${gw.addresses.admin.port}`
  const res = await fetch(`${admin}/v1/ldc`, {
    method: 'PUT',
    headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
    body: JSON.stringify({ revision: 2, uid: { header: 'x-ldc-uid' }, table: table('RZ01'), services: { [`${PKG}.Account`]: 'rzone' } }),
  })
  t.is(res.status, 200, await res.text())
  flipped = true
  t.is(rz00.held, IN_FLIGHT, 'the flip dropped no call in flight')
  for (let i = 0; i < AFTER; i++) all.push(launch(IN_FLIGHT + i))
  await until(() => rz00.held + rz01.held >= IN_FLIGHT + AFTER, `${AFTER} calls after the flip held upstream`)
  rz00.release()
  rz01.release()
  await Promise.all(all)

  t.is(outcomes.length, IN_FLIGHT + AFTER)
  t.deepEqual(outcomes.filter(o => o.error !== undefined), [], 'zero failed calls')
  const before = outcomes.filter(o => !o.after)
  const after = outcomes.filter(o => o.after)
  t.is(before.length, IN_FLIGHT)
  t.true(before.every(o => o.servedBy === 'RZ00'), 'calls in flight finish in the zone they started in')
  t.is(after.length, AFTER)
  t.deepEqual([...new Set(after.map(o => o.servedBy))], ['RZ01'], 'every call after the flip lands in the new zone')
  t.is(rz00.calls.Account, IN_FLIGHT)
})
