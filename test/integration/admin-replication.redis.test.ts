import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { resourceKey } from '../../admin/effective.js'
import { redisReplicator } from '../../admin/replication.js'
import { baseOptions, openStore, silent, tempDir } from '../_helpers/admin.js'
import { requireRedis } from '../_helpers/redis.js'

const SHARED = 'redis://127.0.0.1:6379'

async function until (cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) { if (cond()) return true; await new Promise(r => setTimeout(r, 10)) }
  return cond()
}

async function replica (url: string, keyPrefix: string, nodeId: string, statePath?: string) {
  const h = await openStore(baseOptions(), { nodeId, statePath, replicator: redisReplicator({ url, keyPrefix, nodeId, logger: silent }) })
  return h
}

async function cleanup (url: string, prefix: string): Promise<void> {
  const r = new Redis(url)
  const keys = await r.keys(`${prefix}*`)
  if (keys.length > 0) await r.del(...keys)
  r.disconnect()
}

const app = (port: number) => ({ instances: [{ address: '10.0.0.1', port }], services: [{ name: 'A' }] })
const hostsOf = (h: Awaited<ReturnType<typeof replica>>) => h.store.snapshot.clusters.get('shop:triple')?.hosts.map(x => x.id) ?? []


test.before('Redis on 127.0.0.1:6379', requireRedis)
test('a push to one replica is applied by the other within 1 s; a later replica bootstraps', async t => {
  const prefix = `isthmus-test:${randomUUID()}:`
  t.teardown(() => cleanup(SHARED, prefix))
  const a = await replica(SHARED, prefix, 'node-a')
  const b = await replica(SHARED, prefix, 'node-b')
  t.teardown(() => a.store.close())
  t.teardown(() => b.store.close())
  const start = Date.now()
  await a.store.write(resourceKey('app', 'shop'), 1, () => app(7001))
  t.true(await until(() => hostsOf(b).includes('10.0.0.1:7001'), 1000))
  t.true(Date.now() - start < 1000)
  t.is(b.applied.length, 1)
  await b.store.write('ldc', 4, () => ({ uid: {}, table: [{ from: 0, to: 99, zone: 'gz9' }] }))
  t.true(await until(() => a.store.options.ldc?.table[0].zone === 'gz9', 1000))
  // a stale write is refused on the other replica too
  await t.throwsAsync(a.store.write('ldc', 3, () => ({ uid: {}, table: [] })), { code: 'ISTH_ERR_ADMIN_REVISION_CONFLICT' })

  const c = await replica(SHARED, prefix, 'node-c')
  t.teardown(() => c.store.close())
  t.deepEqual(hostsOf(c), ['10.0.0.1:7001'])
  t.is(c.store.options.ldc?.table[0].zone, 'gz9')
})

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
  })
}

async function startRedis (port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const r = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null })
  r.on('error', () => {})
  await r.connect().catch(() => {})
  await r.ping()
  r.disconnect()
  return child
}

test('redis restarted mid-test: both replicas keep accepting and reconcile', async t => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let redis = await startRedis(port)
  t.teardown(() => { redis.kill('SIGKILL') })
  const d = tempDir()
  t.teardown(d.remove)
  const a = await replica(url, 'r:', 'node-a', d.file('a.json'))
  const b = await replica(url, 'r:', 'node-b', d.file('b.json'))
  t.teardown(() => a.store.close())
  t.teardown(() => b.store.close())
  await a.store.write(resourceKey('app', 'shop'), 1, () => app(7001))
  t.true(await until(() => hostsOf(b).includes('10.0.0.1:7001'), 1000))

  // Redis goes away (and loses everything: no persistence).
  const dead = new Promise(resolve => redis.once('exit', resolve))
  redis.kill('SIGKILL')
  await dead
  // Both keep serving and accepting local changes.
  await a.store.write(resourceKey('app', 'shop'), 2, () => app(7002))
  await b.store.write('ldc', 1, () => ({ uid: {}, table: [{ from: 0, to: 99, zone: 'gzb' }] }))
  t.deepEqual(hostsOf(a), ['10.0.0.1:7002'])
  t.deepEqual(hostsOf(b), ['10.0.0.1:7001'])

  redis = await startRedis(port)
  t.true(await until(() => hostsOf(b).includes('10.0.0.1:7002'), 8000), 'b pulled a\'s newer app push')
  t.true(await until(() => a.store.options.ldc?.table[0].zone === 'gzb', 8000), 'a pulled b\'s ldc')
  // and Redis holds both again, for the next replica
  const c = await replica(url, 'r:', 'node-c')
  t.teardown(() => c.store.close())
  t.deepEqual(hostsOf(c), ['10.0.0.1:7002'])
  t.is(c.store.options.ldc?.table[0].zone, 'gzb')
})
