/**
 * Idle downstream connections: closed after `idleTimeoutMs` with no traffic and no call in
 * flight; client heartbeats count as traffic; a call slower than the idle timeout is not cut.
 */
import test from 'ava'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { startSofaServer } from '../_peers/sofa-rpc.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, heartbeatFrame, readResponse, requestFrame } from '../_helpers/bolt-frames.js'

const IDLE = 200
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function setup (t: import('ava').ExecutionContext, upstreamPort?: number) {
  const port = upstreamPort ?? await (async () => { const up = await startRawUpstream(); t.teardown(() => up.close()); return up.port })()
  const gw = await startBoltGateway({ upstreamPort: port, bolt: { idleTimeoutMs: IDLE } }); t.teardown(() => gw.close())
  const client = new RawBoltClient(gw.port); t.teardown(() => client.close())
  await client.ready()
  return { gw, client }
}

test('a connection with no traffic is closed after idleTimeoutMs', async t => {
  const { gw, client } = await setup(t)
  await client.until(() => client.closed, 5000)
  t.true(client.closed)
  for (let i = 0; i < 50 && gw.listener.connections.size > 0; i++) await sleep(20)
  t.is(gw.listener.connections.size, 0)
})

test('a connection that was used, then went quiet, is closed too', async t => {
  const { client } = await setup(t)
  client.write(requestFrame({ id: 1 }))
  await client.until(() => client.byId(1) !== undefined)
  t.is(readResponse(client.byId(1)!.buf).value, 'pong')
  await client.until(() => client.closed, 5000)
  t.true(client.closed)
})

test('client heartbeats keep a connection open', async t => {
  const { client } = await setup(t)
  for (let i = 1; i <= 12; i++) { // 12 x 50 ms = 3 idle timeouts
    client.write(heartbeatFrame(i))
    await sleep(IDLE / 4)
  }
  t.false(client.closed)
  t.true(client.frames.filter(f => f.cmd === 0).length >= 11)
})

test('a call in flight longer than idleTimeoutMs is not cut', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const { client } = await setup(t, peer.port)
  client.write(requestFrame({ id: 3, method: 'slow', args: [IDLE * 3], timeout: 5000 }))
  await client.until(() => client.byId(3) !== undefined || client.closed, 5000)
  t.is(client.byId(3)?.status, 0)
  t.is(readResponse(client.byId(3)!.buf).value, 'late')
})
