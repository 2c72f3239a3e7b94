/**
 * Triple end to end: providers registered in the Java SOFARPC layout with the `tri://`
 * protocol (as a Java SOFARPC Triple provider writes its node) become the app's
 * `<app>:triple` cluster, and a grpc-js client calling the gateway's Triple listener reaches
 * the real grpc-js servers behind them.
 */
import test from 'ava'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { adminApi, spawnBridge, waitFor } from './_bridge.js'
import { ADMIN_TOKEN, startBridgeGateway } from './_gateway.js'
import { javaProviderNode, startZooKeeper, zkSession } from './_zk.js'

const SVC = 'isthmus.test.Echo'

test('tri:// providers in the Java layout become <app>:triple and grpc-js calls through the gateway reach them; one deregistering stops getting calls', async t => {
  const zk = await startZooKeeper(t)
  const gw = await startBridgeGateway(t, { triple: true })
  const api = adminApi(gw.admin, ADMIN_TOKEN)
  const [a, b] = [await startEchoServer('a'), await startEchoServer('b')]
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const s = await zkSession(t, zk.connect)
  const dir = `/sofa-rpc/${SVC}/providers`
  await s.mkdirp(dir)
  const startTime = Date.now()
  const node = (port: number): string => `${dir}/${javaProviderNode({ protocol: 'tri', host: '127.0.0.1', port, iface: SVC, appName: 'grpc-app', serialization: 'protobuf', startTime })}`
  await s.ephemeral(node(a.port))
  await s.ephemeral(node(b.port))
  const bridge = await spawnBridge(t, ['--connect', zk.connect, '--admin', `http://127.0.0.1:${gw.admin}`, '--token-file', gw.tokenFile, '--service', SVC])
  const hosts = async (): Promise<number[]> => {
    const r = await api('GET', '/v1/clusters/grpc-app:triple')
    return r.status === 200 ? (r.body.cluster.hosts as Array<{ port: number }>).map(h => h.port).sort() : []
  }
  await waitFor('both Triple providers in grpc-app:triple', async () => (await hosts()).length === 2)
  t.deepEqual(await hosts(), [a.port, b.port].sort())
  t.is((await api('GET', '/v1/clusters/grpc-app:bolt')).status, 404, 'no Bolt cluster for Triple-only providers')
  const app = (await api('GET', '/v1/discovery/apps/grpc-app')).body
  t.deepEqual(app.instances.map((i: { protocols: string[] }) => i.protocols), [['triple'], ['triple']])

  const client = echoClient(gw.triple)
  t.teardown(() => client.close())
  const served = new Set<string>()
  for (let i = 0; i < 40; i++) {
    const r = await unary(client, { message: `m${i}` })
    t.is(r.reply.message, `m${i}`)
    served.add(r.reply.servedBy)
  }
  t.deepEqual([...served].sort(), ['a', 'b'], 'both providers get calls')
  t.is(a.calls + b.calls, 40)

  // b's node goes (its provider deregisters): calls reach only a.
  await s.remove(node(b.port))
  await waitFor('b removed', async () => JSON.stringify(await hosts()) === JSON.stringify([a.port]))
  const bCalls = b.calls
  for (let i = 0; i < 20; i++) t.is((await unary(client, { message: 'x' })).reply.servedBy, 'a')
  t.is(b.calls, bCalls)
  t.is(await bridge.metric('isthmus_bridge_push_errors_total'), 0)
})
