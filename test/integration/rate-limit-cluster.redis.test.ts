/**
 * Cluster-wide QPS through the real Redis: two gateway processes (the compiled CLI) share one
 * 100/s limit and admit 100/s in total, within 10%, over 5 s; with Redis stopped a gateway
 * falls back to its local share (no errors beyond RESOURCE_EXHAUSTED, the fallback metric
 * counts) and returns to the shared bucket when Redis is back. Rates come from the gateways'
 * own counters between two scrapes.
 */
import test, { type ExecutionContext } from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import * as grpc from '@grpc/grpc-js'
import { Redis } from 'ioredis'
import { spawnGateway } from '../_helpers/cli.js'
import { rate, sample, scrape, type Scrape } from '../_helpers/scrape.js'
import { callTriple, ldcClient, startZoneTriple, PKG, type LdcClient } from '../_peers/zone-peers.js'

const RULE = 'c100'

function config (upstream: number, redisUrl: string, keyPrefix: string): Record<string, unknown> {
  return {
    entity: 'acme',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters: [{ name: 't', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: upstream }] }],
    routes: [{ name: 'all', match: { service: { prefix: `${PKG}.` } }, cluster: 't' }],
    filters: [{ name: 'rate-limit', config: { rules: [{ name: RULE, match: { service: `${PKG}.Account` }, qps: { rate: 100, cluster: true } }], cluster: { fallbackShare: 0.5 } } }],
    redis: { url: redisUrl, keyPrefix },
    log: { level: 'info', access: 'off' },
    drain: { timeoutMs: 500 },
  }
}

/** Closed-loop workers against one gateway, counting statuses, until stopped. */
function load (t: ExecutionContext, port: number, workers: number): { stop: () => Promise<void>, statuses: Map<number, number> } {
  const client: LdcClient = ldcClient(port, 'Account')
  t.teardown(() => client.close())
  const statuses = new Map<number, number>()
  let stopped = false
  const run = async (): Promise<void> => {
    while (!stopped) {
      let code = 0
      try { await callTriple(client, {}, {}, { deadline: Date.now() + 30000 }) } catch (e) { code = (e as grpc.ServiceError).code }
      statuses.set(code, (statuses.get(code) ?? 0) + 1)
      // A refused call answers at once: yield so the loop stays fair to the rest of the test.
      if (code !== 0) await new Promise(resolve => setImmediate(resolve))
    }
  }
  const all = Array.from({ length: workers }, run)
  // Registered after the gateway's teardown, so it runs before it: the loops end even on failure.
  t.teardown(() => { stopped = true })
  return { statuses, stop: async () => { stopped = true; await Promise.all(all) } }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
async function window (ms: number): Promise<void> {
  const start = performance.now()
  while (performance.now() - start < ms) await sleep(50)
}
const allowed = (a: Scrape, b: Scrape): number => rate(a, b, 'isthmus_rate_limit_decisions_total', { rule: RULE, decision: 'allowed' })

/**
 * Scrape once the gateway has refused calls since `since` (or at all): its bucket is then
 * drained, so the window that starts here measures the rate, not the initial burst.
 */
async function overLimit (admin: number, since?: Scrape): Promise<Scrape> {
  const base = since === undefined ? 0 : sample(since.text, 'isthmus_rate_limit_decisions_total', { rule: RULE, decision: 'limited' })
  const deadline = Date.now() + 60000
  for (;;) {
    const s = await scrape(admin)
    if (sample(s.text, 'isthmus_rate_limit_decisions_total', { rule: RULE, decision: 'limited' }) > base) return s
    if (Date.now() > deadline) throw new Error('the load never went over the limit')
    await sleep(50)
  }
}

async function cleanRedis (url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  r.on('error', () => {})
  try {
    await r.connect()
    const keys = await r.keys(`${prefix}*`)
    if (keys.length > 0) await r.del(...keys)
  } catch {} finally { r.disconnect() }
}

// Serial: each test is a load test measuring rates; two at once would skew both.
test.serial('two gateway processes sharing Redis hold a 100/s cluster limit within 10% in total over 5 s', async (t) => {
  const prefix = `isthmus-test-rl:${randomUUID()}:`
  t.teardown(() => cleanRedis('redis://127.0.0.1:6379', prefix))
  const up = await startZoneTriple('up')
  t.teardown(() => up.close())
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-rl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gw.yaml')
  writeFileSync(file, JSON.stringify(config(up.port, 'redis://127.0.0.1:6379', prefix)))
  const gws = [await spawnGateway(file, ['triple', 'admin']), await spawnGateway(file, ['triple', 'admin'])]
  for (const g of gws) t.teardown(async () => { g.child.kill('SIGTERM'); await g.exited })
  t.timeout(180000)
  const loads = gws.map(g => load(t, g.ports.triple, 4))
  await Promise.all(gws.map(g => overLimit(g.ports.admin)))
  const a = await Promise.all(gws.map(g => scrape(g.ports.admin)))
  await window(5000)
  const b = await Promise.all(gws.map(g => scrape(g.ports.admin)))
  for (const l of loads) await l.stop()
  const rates = gws.map((_, i) => allowed(a[i], b[i]))
  const total = rates[0] + rates[1]
  t.log(`allowed ${rates.map(r => r.toFixed(1)).join(' + ')} = ${total.toFixed(1)}/s`)
  t.true(rates.every(r => r > 10), 'both gateways admitted calls')
  t.true(Math.abs(total / 100 - 1) <= 0.10, `total ${total}/s`)
  for (const l of loads) t.deepEqual([...l.statuses.keys()].sort((x, y) => x - y), [0, grpc.status.RESOURCE_EXHAUSTED])
  for (let i = 0; i < 2; i++) t.is(rate(a[i], b[i], 'isthmus_rate_limit_fallback_total', { rule: RULE }), 0, 'Redis was up: no fallback decisions in the window')
})

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
  })
}

function redisServer (port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
}

async function redisUp (url: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null })
  r.on('error', () => {})
  const timer = setTimeout(() => r.disconnect(), 15000)
  try { await r.connect().catch(() => {}); await r.ping() } finally { clearTimeout(timer); r.disconnect() }
}

async function stop (p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise(resolve => p.once('exit', resolve))
  p.kill('SIGKILL')
  await exited
}

test.serial('Redis stopped: the gateway falls back to its local share (no errors beyond the limit, metric set), and back when Redis returns', async (t) => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let redis = redisServer(port)
  t.teardown(() => stop(redis))
  await redisUp(url)
  const up = await startZoneTriple('up')
  t.teardown(() => up.close())
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-rl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gw.yaml')
  writeFileSync(file, JSON.stringify(config(up.port, url, 'isthmus-test-rl-fallback:')))
  const gw = await spawnGateway(file, ['triple', 'admin'])
  t.teardown(async () => { gw.child.kill('SIGTERM'); await gw.exited })
  const admin = gw.ports.admin
  t.timeout(180000)
  const l = load(t, gw.ports.triple, 4)
  await overLimit(admin)
  // A first refusal can come from a lease still in flight while the shared bucket holds part
  // of its burst: let a second pass before the window starts, and measure 4 s so the lease
  // batch and borrowing (a few tokens) stay small beside the count.
  await window(1000)
  const s0 = await scrape(admin)
  await window(4000)
  const s1 = await scrape(admin)
  const shared = allowed(s0, s1)
  t.log(`with Redis: ${shared.toFixed(1)}/s`)
  t.true(Math.abs(shared / 100 - 1) <= 0.15, `with Redis ${shared}/s`)

  await stop(redis)
  let f0 = s1
  const deadline = Date.now() + 20000
  while (sample(f0.text, 'isthmus_rate_limit_fallback_total', { rule: RULE }) === 0) {
    if (Date.now() > deadline) throw new Error('no fallback after Redis stopped')
    await sleep(100)
    f0 = await scrape(admin)
  }
  // The fallback bucket starts empty: from the first fallback decision on it is at its rate.
  await window(3000)
  const f1 = await scrape(admin)
  const local = allowed(f0, f1)
  t.log(`Redis down: ${local.toFixed(1)}/s`)
  t.true(Math.abs(local / 50 - 1) <= 0.10, `fallback share ${local}/s (0.5 x 100/s)`)
  t.true(rate(f0, f1, 'isthmus_rate_limit_fallback_total', { rule: RULE }) > 0, 'calls are counted as decided by the fallback')
  t.true(sample(f1.text, 'isthmus_rate_limit_redis_errors_total', { rule: RULE }) > 0)

  redis = redisServer(port)
  await redisUp(url)
  // Back on the shared bucket: fallback decisions stop.
  let r0 = await scrape(admin)
  const back = Date.now() + 20000
  for (;;) {
    await window(500)
    const r1 = await scrape(admin)
    if (rate(r0, r1, 'isthmus_rate_limit_fallback_total', { rule: RULE }) === 0) break
    if (Date.now() > back) throw new Error('still in fallback after Redis came back')
    r0 = r1
  }
  await l.stop()
  t.deepEqual([...l.statuses.keys()].sort((x, y) => x - y), [0, grpc.status.RESOURCE_EXHAUSTED], 'no errors beyond the limit')
})
