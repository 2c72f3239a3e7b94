import test from 'ava'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, heartbeatFrame, readResponse, requestFrame, withHeaderMap, type BoltVersion } from '../_helpers/bolt-frames.js'
import { decodeHeaderMap } from '../../gateway/protocol/bolt/header-view.js'

async function setup (t: import('ava').ExecutionContext) {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const gw = await startBoltGateway({ upstreamPort: up.port }); t.teardown(() => gw.close())
  const client = new RawBoltClient(gw.port); t.teardown(() => client.close())
  await client.ready()
  return { up, gw, client }
}

for (const v of ['v1', 'v2', 'v2crc'] as BoltVersion[]) {
  test(`request ${v}: forwarded with content intact, answered in the same version`, async t => {
    const { up, client } = await setup(t)
    const frame = requestFrame({ id: 41, version: v, args: ['hello'] })
    client.write(frame)
    await client.until(() => client.byId(41) !== undefined)
    const resp = client.byId(41)!
    t.is(resp.proto, v === 'v1' ? 1 : 2)
    t.is(resp.hasCrc, v === 'v2crc')
    const r = readResponse(resp.buf) // sofa-bolt-node checks the CRC
    t.is(r.id, 41)
    t.is(r.value, 'pong')
    const got = up.requests[0]
    t.true(got.content().equals(frame.subarray(frame.length - (v === 'v2crc' ? 4 : 0) - got.contentLen, frame.length - (v === 'v2crc' ? 4 : 0))))
    t.true(got.headerBytes().equals(frame.subarray(got.headerStart, got.contentStart)))
  })

  test(`heartbeat ${v} is answered by the gateway itself`, async t => {
    const { up, client } = await setup(t)
    client.write(heartbeatFrame(7, v))
    await client.until(() => client.byId(7) !== undefined)
    const ack = client.byId(7)!
    t.is(ack.type, 0)
    t.is(ack.cmd, 0)
    t.is(ack.proto, v === 'v1' ? 1 : 2)
    t.is(up.heartbeats.length, 0)
  })
}

test('oneway: the upstream sees it, the client gets nothing', async t => {
  const { up, client } = await setup(t)
  client.write(requestFrame({ id: 5, oneway: true }))
  client.write(requestFrame({ id: 6 }))
  await client.until(() => client.byId(6) !== undefined)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.is(up.requests.filter(f => f.type === 2).length, 1)
  t.is(client.byId(5), undefined)
})

test('a Java-style header map arrives at the upstream unchanged', async t => {
  const { up, client } = await setup(t)
  const headers = {
    service: 'com.isthmus.test.EchoService:1.0',
    sofa_head_method_name: 'echo',
    sofa_head_target_service: 'com.isthmus.test.EchoService:1.0',
    sofa_head_target_app: 'provider',
    app: 'consumer', protocol: 'bolt', type: 'sync',
    'rpc_trace_context.sofaTraceId': '0a1b2c3d4e5f1700000000001234',
    'rpc_trace_context.sofaRpcId': '0.1',
    'rpc_trace_context.sofaCallerApp': 'consumer',
    'rpc_trace_context.sofaCallerIp': '10.0.0.1',
    'rpc_trace_context.sofaCallerIdc': 'idc1',
    'rpc_trace_context.sofaCallerZone': 'GZ00A',
    'rpc_trace_context.sofaPenAttrs': 'mark=T&uid=42',
    'rpc_trace_context.sysPenAttrs': '',
    sofa_head_generic_type: '',
  }
  for (const v of ['v1', 'v2crc'] as BoltVersion[]) {
    const id = v === 'v1' ? 100 : 101
    const frame = withHeaderMap(requestFrame({ id, version: v }), headers)
    client.write(frame)
    await client.until(() => client.byId(id) !== undefined)
    const got = up.requests.find(f => f.proto === (v === 'v1' ? 1 : 2))!
    t.true(got.headerBytes().equals(frame.subarray(got.headerStart, got.contentStart)))
    t.deepEqual(Object.fromEntries(decodeHeaderMap(got.headerBytes())), headers)
    t.is(readResponse(client.byId(id)!.buf).value, 'pong')
  }
})

test('pipelined requests on one connection are all answered with their own ids', async t => {
  const { client } = await setup(t)
  const frames = []
  for (let i = 1; i <= 200; i++) frames.push(requestFrame({ id: i, version: i % 2 === 0 ? 'v1' : 'v2crc' }))
  client.write(Buffer.concat(frames))
  await client.until(() => client.frames.length >= 200)
  t.deepEqual(client.frames.map(f => f.requestId).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1))
})

test('a header filter change re-encodes the header map; the content stays intact', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const gw = await startBoltGateway({ upstreamPort: up.port, filters: [{ name: 'headers', config: { request: { set: { 'x-entity': 'test' } } } }] })
  t.teardown(() => gw.close())
  const client = new RawBoltClient(gw.port); t.teardown(() => client.close())
  const frame = requestFrame({ id: 9, version: 'v2crc' })
  client.write(frame)
  await client.until(() => client.byId(9) !== undefined)
  const got = up.requests[0]
  t.is(decodeHeaderMap(got.headerBytes()).get('x-entity'), 'test')
  t.is(decodeHeaderMap(got.headerBytes()).get('service'), 'com.isthmus.test.EchoService:1.0')
  t.true(got.content().equals(frame.subarray(frame.length - 4 - got.contentLen, frame.length - 4)))
  t.is(readResponse(client.byId(9)!.buf).value, 'pong')
})
