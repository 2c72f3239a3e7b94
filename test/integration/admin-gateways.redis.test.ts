/**
 * Gateways (startGateway) sharing the real Redis: a push to one is applied by the other
 * within 1 s and serves calls there; a third started later bootstraps the same state.
 */
import test from 'ava'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway } from '../_helpers/gateway.js'
import type { Gateway } from '../../gateway/lifecycle/start.js'
import { requireRedis } from '../_helpers/redis.js'

const TOKEN = 'rep-token'

function config (keyPrefix: string): Record<string, unknown> {
  return {
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN } },
    redis: { url: 'redis://127.0.0.1:6379', keyPrefix },
    drain: { timeoutMs: 1000 },
  }
}

async function api (gw: Gateway, method: string, path: string, body?: unknown): Promise<{ status: number, body: any }> {
  const r = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await r.text()
  return { status: r.status, body: text === '' ? undefined : JSON.parse(text) }
}


test.before('Redis on 127.0.0.1:6379', requireRedis)
test('push to one gateway is applied by the other within 1 s; a third bootstraps', async t => {
  const prefix = `isthmus-test:${randomUUID()}:`
  t.teardown(async () => {
    const r = new Redis('redis://127.0.0.1:6379')
    const keys = await r.keys(`${prefix}*`)
    if (keys.length > 0) await r.del(...keys)
    r.disconnect()
  })
  const up = await startEchoServer('up1')
  t.teardown(() => up.close())
  const a = await startTestGateway(t, config(prefix))
  const b = await startTestGateway(t, config(prefix))
  const start = Date.now()
  const r = await api(a, 'PUT', '/v1/discovery/apps/echo-app', { revision: 1, instances: [{ address: '127.0.0.1', port: up.port }], services: [{ name: 'isthmus.test.Echo' }] })
  t.is(r.status, 200)
  let seen = false
  while (Date.now() - start < 1000) {
    if ((await api(b, 'GET', '/v1/discovery/apps/echo-app')).status === 200) { seen = true; break }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  t.true(seen, 'b applied the push within 1 s')
  const client = echoClient(b.addresses.triple!.port)
  t.teardown(() => client.close())
  t.is((await unary(client, { message: 'via b' })).reply.servedBy, 'up1')

  const c = await startTestGateway(t, config(prefix))
  const app = await api(c, 'GET', '/v1/discovery/apps/echo-app')
  t.is(app.status, 200)
  t.is(app.body.revision, 1)
  const client3 = echoClient(c.addresses.triple!.port)
  t.teardown(() => client3.close())
  t.is((await unary(client3, { message: 'via c' })).reply.servedBy, 'up1')
})
