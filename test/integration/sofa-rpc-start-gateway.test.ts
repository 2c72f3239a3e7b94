import test from 'ava'
import pino from 'pino'
import { startGateway } from '../../gateway/lifecycle/start.js'
import { validateOptions } from '../../gateway/config/load.js'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE } from '../_peers/sofa-rpc.js'

test('startGateway wires the Bolt listener: sofa-rpc-node calls pass, drain closes cleanly', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const options = validateOptions({
    entity: 'test', trustDomain: 'test.local',
    listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'x'.repeat(32) } },
    clusters: [{ name: 'up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: peer.port }] }],
    routes: [{ name: 'echo', match: { protocol: 'bolt', service: TEST_SERVICE }, cluster: 'up', timeoutMs: 3000 }],
    audit: { enabled: false },
  })
  const gw = await startGateway(options, { baseDir: process.cwd(), logger: pino({ level: 'silent' }) })
  t.teardown(() => gw.close())
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.addresses.bolt!.port)
  t.is(await c.invoke('plus', [20, 22]), 42)
  await gw.close()
  t.pass()
})
