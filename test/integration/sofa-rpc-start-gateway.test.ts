import test from 'ava'
import { connect } from 'node:net'
import pino from 'pino'
import { startGateway } from '../../gateway/lifecycle/start.js'
import { validateOptions } from '../../gateway/config/load.js'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE } from '../_peers/sofa-rpc.js'

/** Resolves with the connect error code (ECONNREFUSED once nothing listens), or 'connected'. */
function probe (port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.on('connect', () => { s.destroy(); resolve('connected') })
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
  })
}

async function setup (t: import('ava').ExecutionContext) {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const options = validateOptions({
    entity: 'test', trustDomain: 'test.local',
    listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'x'.repeat(32) } },
    clusters: [{ name: 'up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: peer.port }] }],
    routes: [{ name: 'echo', match: { protocol: 'bolt', service: TEST_SERVICE }, cluster: 'up', timeoutMs: 30000 }],
    audit: { enabled: false },
    drain: { timeoutMs: 30000 },
  })
  const gw = await startGateway(options, { baseDir: process.cwd(), logger: pino({ level: 'silent' }) })
  t.teardown(() => gw.close())
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.addresses.bolt!.port)
  return { gw, c }
}

test('startGateway wires the Bolt listener: sofa-rpc-node calls pass; after close nothing listens', async t => {
  const { gw, c } = await setup(t)
  const { bolt, admin } = gw.addresses
  t.is(await c.invoke('plus', [20, 22]), 42)
  t.is(await c.invoke('echo', ['x'.repeat(1000)]), 'x'.repeat(1000))
  t.is(await probe(bolt!.port), 'connected')
  await gw.close()
  t.is(await probe(bolt!.port), 'ECONNREFUSED', 'the Bolt listener is closed')
  t.is(await probe(admin.port), 'ECONNREFUSED', 'the admin listener is closed')
})

// Drain sends no GoAway by default (sofa-bolt-node cannot decode cmd 100 and would close the
// socket, failing this call): the call in flight finishes, then the connection is closed.
test('close drains: a sofa-rpc-node call in flight finishes with its answer', async t => {
  const { gw, c } = await setup(t)
  t.is(await c.invoke('plus', [1, 2]), 3)
  const inFlight = c.invoke('slow', [500])
  await new Promise(resolve => setTimeout(resolve, 100))
  const closed = gw.close()
  t.is(await inFlight, 'late')
  await closed
})
