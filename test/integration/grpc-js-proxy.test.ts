import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary, type EchoReply } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { ERRORS } from '../../gateway/errors.js'

async function setup (t: import('ava').ExecutionContext) {
  const up = await startEchoServer('up1')
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port]))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  return { up, gw, client }
}

test('unary call with custom and -bin metadata both ways', async (t) => {
  const { client, up } = await setup(t)
  const md = new grpc.Metadata()
  md.set('x-text', 'hello')
  md.set('x-blob-bin', Buffer.from([0, 1, 2, 255]))
  const { reply, headers, trailers } = await unary(client, { message: 'hi' }, md)
  t.is(reply.message, 'hi')
  t.is(reply.servedBy, 'up1')
  t.is(headers.get('x-text')[0], 'hello')
  t.deepEqual(headers.get('x-blob-bin')[0], Buffer.from([0, 1, 2, 255]))
  t.is(trailers.get('x-trailer-text')[0], 'hello')
  t.deepEqual(trailers.get('x-trailer-blob-bin')[0], Buffer.from([0, 1, 2, 255]))
  t.deepEqual(up.seen[0].get('x-blob-bin')[0], Buffer.from([0, 1, 2, 255]))
})

test('server streaming', async (t) => {
  const { client } = await setup(t)
  const got: EchoReply[] = []
  await new Promise<void>((resolve, reject) => {
    const s = client.serverStream({ message: 'm', count: 5 })
    s.on('data', (r: EchoReply) => got.push(r))
    s.on('error', reject)
    s.on('end', () => resolve())
  })
  t.deepEqual(got.map(r => r.index), [0, 1, 2, 3, 4])
})

test('client streaming', async (t) => {
  const { client } = await setup(t)
  const reply = await new Promise<EchoReply>((resolve, reject) => {
    const s = client.clientStream(new grpc.Metadata(), {}, (err, r) => err ? reject(err) : resolve(r))
    for (let i = 0; i < 10; i++) s.write({ message: String(i), payload: Buffer.alloc(1000) })
    s.end()
  })
  t.is(reply.message, '0,1,2,3,4,5,6,7,8,9')
  t.is(reply.index, 10000)
})

test('bidi streaming', async (t) => {
  const { client } = await setup(t)
  const got = await new Promise<string[]>((resolve, reject) => {
    const out: string[] = []
    const s = client.bidi()
    s.on('data', (r: EchoReply) => { out.push(r.message); if (out.length < 5) s.write({ message: `m${out.length}` }); else s.end() })
    s.on('error', reject)
    s.on('end', () => resolve(out))
    s.write({ message: 'm0' })
  })
  t.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4'])
})

test('error with Trailers-Only passes status, message and -bin trailers', async (t) => {
  const { client } = await setup(t)
  const err = await t.throwsAsync(unary(client, { message: 'boom', failCode: grpc.status.FAILED_PRECONDITION })) as grpc.ServiceError
  t.is(err.code, grpc.status.FAILED_PRECONDITION)
  t.is(err.details, 'failed as asked: boom')
  t.deepEqual(err.metadata.get('x-fail-detail-bin')[0], Buffer.from([1, 2, 3]))
})

test('4 MiB message both ways', async (t) => {
  const { client } = await setup(t)
  const payload = Buffer.alloc(4 << 20)
  for (let i = 0; i < payload.length; i += 4096) payload[i] = i & 0xff
  const { reply } = await unary(client, { message: 'big', payload })
  t.is(reply.payload.length, payload.length)
  t.true(reply.payload.equals(payload))
})

test('client cancellation reaches the server', async (t) => {
  const { client, up } = await setup(t)
  const call = client.serverStream({ message: 'slow', count: 1000, delayMs: 20 })
  await new Promise<void>((resolve) => call.once('data', () => resolve()))
  call.cancel()
  await new Promise<void>((resolve) => call.on('error', () => resolve()))
  for (let i = 0; i < 100 && up.cancelled.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.deepEqual(up.cancelled, ['serverStream'])
})

test('the gateway answers DEADLINE_EXCEEDED itself when the route timeout passes (the client deadline is far)', async (t) => {
  const up = await startEchoServer('slow')
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], { routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'echo', timeoutMs: 300 }] }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  // The upstream would answer after 20 s and the client waits up to 50 s: only the gateway's
  // own 300 ms route timeout can end this call.
  const err = await t.throwsAsync(unary(client, { message: 'slow', delayMs: 20000 }, new grpc.Metadata(), { deadline: Date.now() + 50000 })) as grpc.ServiceError
  t.is(err.code, grpc.status.DEADLINE_EXCEEDED)
  t.true(err.details.startsWith(ERRORS.ISTH_ERR_UPSTREAM_TIMEOUT.message.split('%s')[0]), `the gateway's reply: ${err.details}`)
  // The upstream call was cancelled, not left running.
  for (let i = 0; i < 500 && up.cancelled.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.deepEqual(up.cancelled, ['unary'])
})

test('the client deadline reaches a grpc-js upstream (grpc-timeout forwarded; the exact reduction: triple-wire)', async (t) => {
  const { client, up } = await setup(t)
  const deadline = Date.now() + 30000
  await unary(client, { message: 'x' }, new grpc.Metadata(), { deadline })
  await unary(client, { message: 'no deadline' })
  // grpc-js turns the grpc-timeout header the upstream received into getDeadline().
  t.true(Number.isFinite(up.deadlines[0]), 'the upstream got a grpc-timeout')
  t.true(up.deadlines[0] > Date.now(), 'a deadline in the future')
  t.is(up.deadlines[1], Infinity, 'none invented for a call without one')
})
