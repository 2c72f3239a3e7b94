/**
 * Stress-test traffic end to end: grpc-js over Triple, sofa-rpc-node over Bolt (protobuf codec,
 * so its request props are header-map keys) and raw Bolt frames. Every marker source is flagged
 * (the call lands on the shadow host) and reaches the upstream unchanged; the admin switch
 * refuses stress calls only; oversize baggage is refused.
 */
import test, { type ExecutionContext } from 'ava'
import * as grpc from '@grpc/grpc-js'
import { startTestGateway } from '../_helpers/gateway.js'
import { callBolt, callTriple, ldcClient, sofaClient, sofaConsumer, startZoneBolt, startZoneTriple, PKG, type ZonePeer } from '../_peers/zone-peers.js'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { RawBoltClient, readResponse, requestFrame, withHeaderMap } from '../_helpers/bolt-frames.js'

process.setMaxListeners(64)

// Values with SOFATracer escapes in them: they must arrive exactly as sent.
const BAGGAGE = 'scene=pay%26ship&mark=T&note=a%3Db%25c&'
const TRACE_CTX = 'tcid=0a0b0c0d1700000000001&spid=0.1.2&pspid=0.1&sample=true&_sys_zone=RZ00&mark=T&'

async function setup (t: ExecutionContext, stress: Record<string, unknown> = {}) {
  const peers: Record<string, ZonePeer> = {}
  for (const name of ['prod', 'shadow']) {
    peers[`t-${name}`] = await startZoneTriple(name)
    peers[`b-${name}`] = await startZoneBolt(name)
  }
  for (const p of Object.values(peers)) t.teardown(() => p.close())
  const hosts = (proto: string) => ['prod', 'shadow'].map(n => ({ address: '127.0.0.1', port: peers[`${proto}-${n}`].port, ...(n === 'shadow' ? { labels: { shadow: 'true' } } : {}) }))
  const gw = await startTestGateway(t, {
    entity: 'acme',
    listeners: { triple: { port: 0 }, bolt: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters: [
      // The route asks for shadow=false (normal calls never reach the shadow host); the stress
      // filter replaces it with shadow=true for stress calls.
      { name: 'app-triple', protocol: 'triple', subsetFallback: { policy: 'none' }, hosts: hosts('t').map(h => ({ ...h, labels: { shadow: h.labels?.shadow ?? 'false' } })) },
      { name: 'app-bolt', protocol: 'bolt', subsetFallback: { policy: 'none' }, hosts: hosts('b').map(h => ({ ...h, labels: { shadow: h.labels?.shadow ?? 'false' } })) },
    ],
    routes: [
      { name: 'triple', match: { protocol: 'triple', service: { prefix: `${PKG}.` } }, cluster: 'app-triple', subset: { shadow: 'false' } },
      { name: 'bolt', match: { protocol: 'bolt', service: { prefix: `${PKG}.` } }, cluster: 'app-bolt', subset: { shadow: 'false' } },
    ],
    filters: [{ name: 'stress', config: { shadow: { subset: { shadow: 'true' } }, keys: [{ name: 'x-load-test', form: 'value', value: 'on' }], ...stress } }],
  })
  const tc = ldcClient(gw.addresses.triple!.port, 'Account')
  t.teardown(() => tc.close())
  const sofa = sofaClient()
  t.teardown(() => sofa.close())
  const bc = await sofaConsumer(sofa, gw.addresses.bolt!.port, 'Account')
  return {
    gw, peers,
    triple: (md: Record<string, string> = {}) => callTriple(tc, md),
    bolt: (props: Record<string, unknown> = {}) => callBolt(bc, props),
  }
}

test('every marker source on each protocol is flagged (shadow host) and reaches the upstream unchanged', async (t) => {
  const { triple, bolt } = await setup(t)
  const tripleCases: Array<Record<string, string>> = [
    { 'tri-trace-biz-baggage': BAGGAGE },
    { sofapenattrs: BAGGAGE },
    { 'tri-traffic-type': 'pressure' },
    { 'x-load-test': 'on' },
  ]
  for (const md of tripleCases) {
    const r = await triple(md)
    t.is(r.servedBy, 'shadow', JSON.stringify(md))
    for (const [k, v] of Object.entries(md)) t.is(r.headers[k], v)
  }
  const boltCases: Array<[Record<string, unknown>, string, string]> = [
    [{ rpc_trace_context: { sofaPenAttrs: BAGGAGE } }, 'rpc_trace_context.sofaPenAttrs', BAGGAGE],
    [{ new_rpc_trace_context: TRACE_CTX }, 'new_rpc_trace_context', TRACE_CTX],
    [{ 'x-load-test': 'on' }, 'x-load-test', 'on'],
  ]
  for (const [props, key, value] of boltCases) {
    const r = await bolt(props)
    t.is(r.servedBy, 'shadow', key)
    t.is(r.headers[key], value)
  }
  // Normal traffic, including baggage without the mark, stays on production.
  t.is((await triple({ 'tri-trace-biz-baggage': 'scene=pay&mark=F&' })).servedBy, 'prod')
  t.is((await triple()).servedBy, 'prod')
  t.is((await bolt({ rpc_trace_context: { sofaPenAttrs: 'scene=pay&' } })).servedBy, 'prod')
  t.is((await bolt()).servedBy, 'prod')
})

test('Bolt raw frames to a shadow cluster: each marked frame goes out with its header map byte for byte', async (t) => {
  const prod = await startRawUpstream()
  const shadow = await startRawUpstream()
  t.teardown(() => prod.close())
  t.teardown(() => shadow.close())
  const gw = await startTestGateway(t, {
    entity: 'acme',
    listeners: { bolt: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters: [
      { name: 'prod', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: prod.port }] },
      { name: 'shadow', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: shadow.port }] },
    ],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'prod' }],
    filters: [{ name: 'stress', config: { shadow: { cluster: 'shadow' } } }],
  })
  const client = new RawBoltClient(gw.addresses.bolt!.port)
  t.teardown(() => client.close())
  await client.ready()
  const frames = [
    withHeaderMap(requestFrame({ id: 1 }), { service: 'com.isthmus.test.EchoService:1.0', sofa_head_method_name: 'echo', 'rpc_trace_context.sofaTraceId': '0a0b', 'rpc_trace_context.sofaPenAttrs': BAGGAGE }),
    withHeaderMap(requestFrame({ id: 2, version: 'v2crc' }), { service: 'com.isthmus.test.EchoService:1.0', new_rpc_trace_context: TRACE_CTX }),
    withHeaderMap(requestFrame({ id: 3 }), { service: 'com.isthmus.test.EchoService:1.0', 'rpc_trace_context.sofaPenAttrs': 'scene=a&' }),
  ]
  for (const f of frames) client.write(f)
  await client.until(() => client.frames.length === 3)
  for (const id of [1, 2, 3]) t.is(readResponse(client.byId(id)!.buf).value, 'pong')
  t.is(shadow.requests.length, 2, 'both marked frames went to the shadow cluster')
  t.is(prod.requests.length, 1, 'the unmarked one to the route\'s cluster')
  for (const got of shadow.requests) {
    const sent = frames.find(f => f.includes(Buffer.from(got.headerBytes())))
    t.truthy(sent, 'header map unchanged, byte for byte')
    t.true(got.content().equals(sent!.subarray(got.contentStart, got.contentStart + got.contentLen)))
  }
})

test('the global switch (PUT /v1/filters/stress) refuses stress calls only, and turns back off', async (t) => {
  const { gw, triple, bolt } = await setup(t)
  const put = async (revision: number, refuse: boolean): Promise<void> => {
    const r = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/v1/filters/stress`, {
      method: 'PUT', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
      body: JSON.stringify({ revision, config: { shadow: { subset: { shadow: 'true' } }, keys: [{ name: 'x-load-test', form: 'value', value: 'on' }], refuse } }),
    })
    t.is(r.status, 200, await r.text())
  }
  await put(1, true)
  const e = await t.throwsAsync(triple({ 'tri-traffic-type': 'pressure' })) as grpc.ServiceError
  t.is(e.code, grpc.status.UNAVAILABLE)
  t.is(e.details, 'stress-test traffic refused: stress traffic is switched off at this gateway')
  const be = await t.throwsAsync(bolt({ rpc_trace_context: { sofaPenAttrs: 'mark=T&' } })) as Error
  t.regex(be.message, /stress-test traffic refused/)
  t.is((await triple()).servedBy, 'prod')
  t.is((await bolt({ rpc_trace_context: { sofaPenAttrs: 'scene=a&' } })).servedBy, 'prod')
  await put(2, false)
  t.is((await triple({ 'tri-traffic-type': 'pressure' })).servedBy, 'shadow')
  const metrics = await (await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/metrics`)).text()
  t.regex(metrics, /isthmus_stress_refused_total\{reason="switch"\} 2\n/)
})

test('oversize and malformed baggage are refused with a clear status, unparsed', async (t) => {
  const { triple, bolt, peers } = await setup(t)
  const big = 'k=v&'.repeat(1200) + 'mark=T&'
  const e = await t.throwsAsync(triple({ 'tri-trace-biz-baggage': big })) as grpc.ServiceError
  t.is(e.code, grpc.status.INVALID_ARGUMENT)
  t.is(e.details, 'bad trace baggage: baggage longer than 4096 bytes')
  const m = await t.throwsAsync(triple({ 'tri-trace-biz-baggage': 'mark' })) as grpc.ServiceError
  t.is(m.code, grpc.status.INVALID_ARGUMENT)
  t.is(m.details, 'bad trace baggage: baggage pair is not key=value')
  const be = await t.throwsAsync(bolt({ rpc_trace_context: { sofaPenAttrs: big } })) as Error
  t.regex(be.message, /bad trace baggage: baggage longer than 4096 bytes/)
  t.is((peers['t-prod'].calls.Account ?? 0) + (peers['t-shadow'].calls.Account ?? 0) + (peers['b-prod'].calls.Account ?? 0) + (peers['b-shadow'].calls.Account ?? 0), 0)
})
