import test from 'ava'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE } from '../_peers/sofa-rpc.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'

test('2,000 calls over 20 concurrent sofa-rpc-node clients all return the right result', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port }); t.teardown(() => gw.close())
  const clients = Array.from({ length: 20 }, () => sofaClient())
  t.teardown(async () => { await Promise.all(clients.map(c => c.close())) })
  const consumers = await Promise.all(clients.map(c => sofaConsumer(c, gw.port)))
  let wrong = 0
  // 30 s per call, not sofa-rpc-node's 3 s: this checks results, and a busy machine is slow.
  await Promise.all(consumers.map(async (c, ci) => {
    for (let i = 0; i < 100; i += 10) {
      const batch = []
      for (let j = i; j < i + 10; j++) batch.push(c.invoke('plus', [ci * 1000, j], { responseTimeout: 30000 }).then(v => { if (v !== ci * 1000 + j) wrong++ }))
      await Promise.all(batch)
    }
  }))
  t.is(wrong, 0)
  t.is(gw.logs.filter(l => (l.level as number) >= 50).length, 0)
})

test('an exception thrown by the service reaches the client as an exception', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port }); t.teardown(() => gw.close())
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.port)
  const err = await t.throwsAsync(c.invoke('fail', ['service said no']))
  t.regex(err!.message, /service said no/)
  t.is(await c.invoke('echo', ['still fine']), 'still fine')
})

test('gateway outcomes reach the client as exceptions carrying the error code', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const gw = await startBoltGateway({
    upstreamPort: peer.port,
    routes: [
      { name: 'echo', match: { protocol: 'bolt', service: TEST_SERVICE }, cluster: 'up', timeoutMs: 300 },
    ],
    filters: [{ name: 'deny', config: { rules: [{ name: 'no-denied', service: 'com.isthmus.test.Denied' }] } }],
  })
  t.teardown(() => gw.close())
  const client = sofaClient(); t.teardown(() => client.close())
  const unknown = await sofaConsumer(client, gw.port, 'com.isthmus.test.Nowhere')
  const e1 = await t.throwsAsync(unknown.invoke('echo', ['x']))
  t.regex(e1!.message, /ISTH_ERR_ROUTE_NOT_FOUND/)
  const denied = await sofaConsumer(client, gw.port, 'com.isthmus.test.Denied')
  const e2 = await t.throwsAsync(denied.invoke('echo', ['x']))
  t.regex(e2!.message, /ISTH_ERR_FILTER_DENIED|denied/)
  const c = await sofaConsumer(client, gw.port)
  const e3 = await t.throwsAsync(c.invoke('slow', [2000], { responseTimeout: 5000 }))
  t.regex(e3!.message, /ISTH_ERR_UPSTREAM_TIMEOUT/)
})

test('no healthy upstream gives NO_PROCESSOR-style errors, the gateway stays up', async t => {
  const gw = await startBoltGateway({ upstreamPort: 1 }); t.teardown(() => gw.close())
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.port)
  const e = await t.throwsAsync(c.invoke('echo', ['x']))
  t.regex(e!.message, /ISTH_ERR_UPSTREAM_(CONNECT|NO_HEALTHY_HOST)/)
})
