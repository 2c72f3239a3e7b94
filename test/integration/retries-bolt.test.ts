/**
 * Route retries on Bolt (issue 10, item 5): a refused host is retried on another and the
 * sofa-rpc-node caller sees success; with no budget left nothing is retried.
 */
import test from 'ava'
import net, { type AddressInfo } from 'node:net'
import { sofaClient, sofaConsumer, startSofaServerFor } from '../_peers/sofa-rpc.js'
import { startTestGateway } from '../_helpers/gateway.js'
import { metricSum, metrics } from '../_helpers/outlier.js'

const SERVICE = 'com.isthmus.test.Retried'

async function closedPort (): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>(resolve => srv.close(() => resolve()))
  return port
}

function boltConfig (name: string, ports: number[], retry: Record<string, unknown>): Record<string, unknown> {
  return {
    entity: 'test',
    listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'test-token' } },
    clusters: [{ name, protocol: 'bolt', hosts: ports.map(port => ({ address: '127.0.0.1', port })), outlier: { consecutiveFailures: 100000 } }],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: name, retry }],
    drain: { timeoutMs: 1000 },
  }
}

test('a refused Bolt host is retried on another and the caller sees success', async (t) => {
  const good = await startSofaServerFor(SERVICE, { async echo (x: unknown) { return `good ${String(x)}` } })
  t.teardown(() => good.close())
  const gw = await startTestGateway(t, boltConfig('rb-refused', [await closedPort(), good.port], { attempts: 2 }))
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.addresses.bolt!.port, SERVICE)
  for (let i = 0; i < 20; i++) t.is(await c.invoke('echo', [`m${i}`], { responseTimeout: 10000 }), `good m${i}`)
  t.true(metricSum(await metrics(gw.addresses.admin.port), 'isthmus_upstream_retries_total', { cluster: 'rb-refused', outcome: 'success' }) >= 1)
})

test('with the budget spent, a refused Bolt call is not retried', async (t) => {
  const gw = await startTestGateway(t, boltConfig('rb-budget', [await closedPort(), await closedPort()], { attempts: 3, budgetPercent: 0, minRetries: 0 }))
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.addresses.bolt!.port, SERVICE)
  for (let i = 0; i < 5; i++) {
    const err = await c.invoke('echo', ['x'], { responseTimeout: 10000 }).then(() => null, (e: Error) => e)
    t.regex(err?.message ?? 'passed', /ISTH_ERR_UPSTREAM_CONNECT/)
  }
  const m = await metrics(gw.addresses.admin.port)
  t.is(metricSum(m, 'isthmus_upstream_retries_total', { cluster: 'rb-budget' }), 0)
  t.is(metricSum(m, 'isthmus_upstream_retry_budget_exhausted_total', { cluster: 'rb-budget' }), 5)
})
