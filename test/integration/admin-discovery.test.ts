/**
 * Discovery pushed through the admin API of a real gateway (startGateway), called with
 * grpc-js: app-level push, incremental host removal, zero-loss hot apply, restart restore.
 */
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary, type EchoClient, type EchoServer } from '../_peers/grpc-echo.js'
import { startTestGateway } from '../_helpers/gateway.js'
import { tempDir } from '../_helpers/admin.js'
import type { Gateway } from '../../gateway/lifecycle/start.js'

const TOKEN = 'disc-token'
const SERVICE = 'isthmus.test.Echo'

function config (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN } },
    filters: [{ name: 'headers', config: { request: { set: { 'x-filter-rev': '0' } } } }],
    drain: { timeoutMs: 2000 },
    ...extra,
  }
}

function admin (gw: Gateway) {
  const base = `http://127.0.0.1:${gw.addresses.admin.port}`
  return async (method: string, path: string, body?: unknown): Promise<{ status: number, body: any }> => {
    const r = await fetch(base + path, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await r.text()
    return { status: r.status, body: text === '' ? undefined : JSON.parse(text) }
  }
}

async function echoServers (t: import('ava').ExecutionContext, n: number): Promise<EchoServer[]> {
  const out: EchoServer[] = []
  for (let i = 1; i <= n; i++) { const s = await startEchoServer(`up${i}`); t.teardown(() => s.close()); out.push(s) }
  return out
}

const inst = (s: EchoServer) => ({ address: '127.0.0.1', port: s.port, zone: 'gz00a', labels: { name: s.name } })

async function calls (client: EchoClient, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push((await unary(client, { message: String(i) })).reply.servedBy)
  return out
}

test('app-level push of 3 instances: calls reach all; incremental remove: none goes there, none fails', async t => {
  const ups = await echoServers(t, 3)
  const gw = await startTestGateway(t, config())
  const api = admin(gw)
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  // before the push: no route
  const miss = await unary(client, { message: 'x' }).catch((e: grpc.ServiceError) => e)
  t.is((miss as grpc.ServiceError).code, grpc.status.UNIMPLEMENTED)

  const r = await api('PUT', '/v1/discovery/apps/echo-app', { revision: 1, instances: ups.map(inst), services: [{ name: SERVICE }] })
  t.is(r.status, 200, JSON.stringify(r.body))
  const served = new Set(await calls(client, 30))
  t.deepEqual([...served].sort(), ['up1', 'up2', 'up3'])

  // remove up3 while calls are running
  let failures = 0
  let running = true
  const after: string[] = []
  let removed = false
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      try {
        const startedAfter = removed // only calls that started after the change count
        const { reply } = await unary(client, { message: 'y' })
        if (startedAfter) after.push(reply.servedBy)
      } catch { failures++ }
    }
  })
  await new Promise(resolve => setTimeout(resolve, 100))
  const p = await api('PATCH', '/v1/clusters/echo-app:triple/hosts', { revision: 2, remove: [`127.0.0.1:${ups[2].port}`] })
  t.is(p.status, 200, JSON.stringify(p.body))
  removed = true
  while (after.length < 40 && failures === 0) await new Promise(resolve => setTimeout(resolve, 20))
  running = false
  await Promise.all(loops)
  t.is(failures, 0)
  t.true(after.length >= 40)
  t.false(after.includes('up3'))
  const c = await api('GET', '/v1/clusters/echo-app:triple')
  t.deepEqual(c.body.cluster.hosts.map((h: { port: number }) => h.port).sort(), [ups[0].port, ups[1].port].sort())
})

test('zero-loss hot apply: 50 updates while 4 clients keep calls in flight', async t => {
  const ups = await echoServers(t, 4)
  const gw = await startTestGateway(t, config())
  const api = admin(gw)
  t.is((await api('PUT', '/v1/discovery/apps/echo-app', { revision: 1, instances: ups.slice(0, 3).map(inst), services: [{ name: SERVICE }] })).status, 200)
  const clients = Array.from({ length: 4 }, () => echoClient(gw.addresses.triple!.port))
  t.teardown(() => { for (const c of clients) c.close() })
  let ok = 0
  const errors: string[] = []
  let running = true
  let maxInFlight = 0
  let inFlight = 0
  const loops = clients.flatMap(client => Array.from({ length: 16 }, async () => {
    while (running || ok < 2000) {
      inFlight++
      if (inFlight > maxInFlight) maxInFlight = inFlight
      try { await unary(client, { message: 'z' }); ok++ } catch (e) { errors.push(`${(e as grpc.ServiceError).code}: ${(e as Error).message}`) }
      inFlight--
      if (!running && ok >= 2000) break
    }
  }))
  let rev = 1
  let filterRev = 0
  const extra = ups[3]
  for (let i = 0; i < 50; i++) {
    rev++
    let r
    switch (i % 4) {
      case 0: r = await api('PATCH', '/v1/clusters/echo-app:triple/hosts', { revision: rev, add: [{ address: '127.0.0.1', port: extra.port }] }); break
      case 1: r = await api('PATCH', '/v1/clusters/echo-app:triple/hosts', { revision: rev, remove: [{ address: '127.0.0.1', port: extra.port }] }); break
      case 2: r = await api('PUT', '/v1/routes', { revision: rev, routes: i % 8 === 2 ? [{ name: 'pin', match: { service: SERVICE }, cluster: 'echo-app:triple', timeoutMs: 5000 + i }] : [] }); break
      default: filterRev = rev; r = await api('PUT', '/v1/filters/headers', { revision: rev, config: { request: { set: { 'x-filter-rev': String(rev) } } } })
    }
    t.is(r.status, 200, JSON.stringify(r.body))
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  running = false
  await Promise.all(loops)
  t.deepEqual(errors.slice(0, 5), [])
  t.true(ok >= 2000, `ok=${ok}`)
  t.true(maxInFlight >= 32)
  // the last filter config is what new calls see
  for (const u of ups) u.seen.length = 0
  await unary(clients[0], { message: 'last' })
  const seen = ups.flatMap(u => u.seen)
  t.is(seen.length, 1)
  t.is(seen[0].get('x-filter-rev')[0], String(filterRev))
})

test('restart restores the pushed state before serving', async t => {
  const ups = await echoServers(t, 2)
  const d = tempDir()
  t.teardown(d.remove)
  const cfg = config({ state: d.file('admin-state.json') })
  const gw1 = await startTestGateway(t, cfg)
  t.is((await admin(gw1)('PUT', '/v1/discovery/apps/echo-app', { revision: 7, instances: ups.map(inst), services: [{ name: SERVICE }] })).status, 200)
  await gw1.close()

  const gw2 = await startTestGateway(t, cfg)
  const client = echoClient(gw2.addresses.triple!.port)
  t.teardown(() => client.close())
  // the very first call after start is routed by the restored push
  const { reply } = await unary(client, { message: 'first' })
  t.true(['up1', 'up2'].includes(reply.servedBy))
  const app = await admin(gw2)('GET', '/v1/discovery/apps/echo-app')
  t.is(app.body.revision, 7)
})
