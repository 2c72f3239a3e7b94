/**
 * Local rate limits end to end: a QPS rule holds its rate within 10% over 5 s (grpc-js load,
 * rate from the gateway's own counters); concurrency limits are exact on Triple (grpc-js) and
 * Bolt (sofa-rpc-node, a rule by method: the protobuf codec carries sofa_head_method_name);
 * limited calls get RESOURCE_EXHAUSTED / SERVER_THREADPOOL_BUSY (raw frame) with the code.
 */
import test, { type ExecutionContext } from 'ava'
import * as grpc from '@grpc/grpc-js'
import { performance } from 'node:perf_hooks'
import { startTestGateway } from '../_helpers/gateway.js'
import { rate, sample, scrape } from '../_helpers/scrape.js'
import { callBolt, callTriple, ldcClient, sofaClient, sofaConsumer, startZoneBolt, startZoneTriple, PKG } from '../_peers/zone-peers.js'
import { RawBoltClient, withHeaderMap, requestFrame } from '../_helpers/bolt-frames.js'
import { BoltStatus } from '../../gateway/errors.js'

process.setMaxListeners(32)

async function gateway (t: ExecutionContext, rules: unknown[]) {
  const tp = await startZoneTriple('up'); t.teardown(() => tp.close())
  const bp = await startZoneBolt('up'); t.teardown(() => bp.close())
  const gw = await startTestGateway(t, {
    entity: 'acme',
    listeners: { triple: { port: 0 }, bolt: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters: [
      { name: 't', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: tp.port }] },
      { name: 'b', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: bp.port }] },
    ],
    routes: [
      { name: 'triple', match: { protocol: 'triple', service: { prefix: `${PKG}.` } }, cluster: 't' },
      { name: 'bolt', match: { protocol: 'bolt', service: { prefix: `${PKG}.` } }, cluster: 'b' },
    ],
    filters: [{ name: 'rate-limit', config: { rules } }],
  })
  return { gw, tp, bp }
}

async function until (pred: () => boolean, what: string, ms = 30000): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

test('QPS: a 50/s rule admits 50/s within 10% over 5 s of overload; the rest get RESOURCE_EXHAUSTED', async (t) => {
  const { gw } = await gateway(t, [{ name: 'q50', match: { service: `${PKG}.Account` }, qps: { rate: 50 } }])
  const client = ldcClient(gw.addresses.triple!.port, 'Account')
  t.teardown(() => client.close())
  const statuses = new Map<number, number>()
  let stop = false
  const worker = async (): Promise<void> => {
    while (!stop) {
      try { await callTriple(client); statuses.set(0, (statuses.get(0) ?? 0) + 1) } catch (e) {
        const code = (e as grpc.ServiceError).code
        statuses.set(code, (statuses.get(code) ?? 0) + 1)
      }
    }
  }
  const workers = Array.from({ length: 8 }, worker)
  t.teardown(() => { stop = true })
  // Start the window once calls are refused: the burst is spent, the bucket is at its rate.
  // (The default burst, one second of the rate, also covers the pauses of a busy machine:
  // a bucket smaller than a pause drops the tokens it cannot hold.)
  let a = await scrape(gw.addresses.admin.port)
  while (sample(a.text, 'isthmus_rate_limit_decisions_total', { rule: 'q50', decision: 'limited' }) === 0) {
    await new Promise(resolve => setTimeout(resolve, 20))
    a = await scrape(gw.addresses.admin.port)
  }
  const started = performance.now()
  while (performance.now() - started < 5000) await new Promise(resolve => setTimeout(resolve, 100))
  const b = await scrape(gw.addresses.admin.port)
  stop = true
  await Promise.all(workers)
  const allowed = rate(a, b, 'isthmus_rate_limit_decisions_total', { rule: 'q50', decision: 'allowed' })
  const limited = rate(a, b, 'isthmus_rate_limit_decisions_total', { rule: 'q50', decision: 'limited' })
  t.log(`allowed ${allowed.toFixed(1)}/s, limited ${limited.toFixed(1)}/s over ${((b.at - a.at) / 1000).toFixed(2)} s`)
  t.true(allowed + limited > 1.5 * 50, 'the offered load stayed well over the limit (else this measures the client)')
  t.true(Math.abs(allowed / 50 - 1) <= 0.10, `allowed ${allowed}/s`)
  t.deepEqual([...statuses.keys()].sort((x, y) => x - y), [0, grpc.status.RESOURCE_EXHAUSTED], 'only OK and RESOURCE_EXHAUSTED')
})

test('concurrency on Triple is exact: 50 held calls against a limit of 10 -> 10 reach the upstream, 40 refused', async (t) => {
  const { gw, tp } = await gateway(t, [{ name: 'c10', match: { route: 'triple' }, concurrency: 10 }])
  const client = ldcClient(gw.addresses.triple!.port, 'Account')
  t.teardown(() => client.close())
  const refused: grpc.ServiceError[] = []
  const calls = Array.from({ length: 50 }, () => callTriple(client, {}, { holdMs: 60000 }).then(r => r.servedBy, (e: grpc.ServiceError) => { refused.push(e); return 'refused' }))
  await until(() => tp.held === 10 && refused.length === 40, '10 held and 40 refused')
  t.true(refused.every(e => e.code === grpc.status.RESOURCE_EXHAUSTED && e.details === 'rate limited: rule c10: over 10 calls in flight'))
  tp.release()
  const served = (await Promise.all(calls)).filter(s => s === 'up')
  t.is(served.length, 10)
  t.is(tp.calls.Account, 10)
  // Slots came back.
  t.is((await callTriple(client)).servedBy, 'up')
})

test('concurrency on Bolt by method (sofa-rpc-node): exact; the limited status is SERVER_THREADPOOL_BUSY', async (t) => {
  const { gw, bp } = await gateway(t, [{ name: 'call5', match: { service: `${PKG}.Account`, method: 'Call' }, concurrency: 5 }])
  const sofa = sofaClient()
  t.teardown(() => sofa.close())
  const consumer = await sofaConsumer(sofa, gw.addresses.bolt!.port, 'Account')
  const refused: Error[] = []
  const calls = Array.from({ length: 20 }, () => callBolt(consumer, {}, { holdMs: 60000 }).then(r => r.servedBy, (e: Error) => { refused.push(e); return 'refused' }))
  await until(() => bp.held === 5 && refused.length === 15, '5 held and 15 refused')
  t.true(refused.every(e => /rate limited: rule call5: over 5 calls in flight/.test(e.message)), refused[0]?.message)
  // The same limit seen on the wire: a raw frame with the method key gets status 0x04.
  const raw = new RawBoltClient(gw.addresses.bolt!.port)
  t.teardown(() => raw.close())
  await raw.ready()
  raw.write(withHeaderMap(requestFrame({ id: 9 }), { service: `${PKG}.Account:1.0`, sofa_head_method_name: 'Call' }))
  await raw.until(() => raw.byId(9) !== undefined)
  t.is(raw.byId(9)!.status, BoltStatus.SERVER_THREADPOOL_BUSY)
  bp.release()
  t.is((await Promise.all(calls)).filter(s => s === 'up').length, 5)
  t.is(bp.calls.Account, 5)
  const m = await scrape(gw.addresses.admin.port)
  t.is(sample(m.text, 'isthmus_rate_limit_decisions_total', { rule: 'call5', decision: 'limited' }), 16)
})
