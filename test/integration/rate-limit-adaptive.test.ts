/**
 * Adaptive protection on a real gateway process (the compiled CLI): a user filter loaded by
 * path burns 10 ms of event loop per call to the heavy service; 30 callers push the loop far
 * over the 150 ms threshold. The limiter sheds stress calls first (before any normal call),
 * then caps the heavy service, and keeps the loop under the threshold most of the time while
 * the load goes on; a light service keeps >= 95% success. Judged from the gateway's own
 * sampling windows (isthmus_rate_limit_adaptive_windows_total) and the callers' outcomes.
 */
import test from 'ava'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { spawnGateway } from '../_helpers/cli.js'
import { sample, scrape, type Scrape } from '../_helpers/scrape.js'
import { callTriple, ldcClient, startZoneTriple, PKG, type LdcClient, type LdcService } from '../_peers/zone-peers.js'

const BURN = fileURLToPath(new URL('../_helpers/filters/cpu-burn.mjs', import.meta.url))
const THRESHOLD_MS = 150
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

interface Outcome { seq: number, kind: 'heavy' | 'stress' | 'light', code: number, details: string }

function windows (s: Scrape, state: 'calm' | 'overloaded'): number {
  let n = 0
  for (let level = 0; level <= 3; level++) n += sample(s.text, 'isthmus_rate_limit_adaptive_windows_total', { state, level: String(level) })
  return n
}
const shed = (s: Scrape, reason: string): number => sample(s.text, 'isthmus_rate_limit_adaptive_shed_total', { reason })

async function until (what: string, admin: number, pred: (s: Scrape) => boolean): Promise<Scrape> {
  const deadline = Date.now() + 90000
  for (;;) {
    const s = await scrape(admin)
    if (pred(s)) return s
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

test('a CPU-burning filter overloads the loop; the limiter sheds stress first, caps the heavy service, brings the loop under the threshold, and a light service keeps >= 95% success', async (t) => {
  t.timeout(240000)
  const up = await startZoneTriple('up')
  t.teardown(() => up.close())
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-adaptive-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gw.yaml')
  writeFileSync(file, JSON.stringify({
    entity: 'acme',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 'tok' } },
    clusters: [{ name: 't', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: up.port }] }],
    routes: [{ name: 'all', match: { service: { prefix: `${PKG}.` } }, cluster: 't', timeoutMs: 60000 }],
    filters: [
      { name: 'stress' },
      { name: 'rate-limit', config: { adaptive: { windowMs: 250, maxEventLoopDelayMs: THRESHOLD_MS, minConcurrency: 2, recoverWindows: 8 } } },
      { name: 'cpu-burn', module: BURN, config: { service: `${PKG}.Account`, ms: 10 } },
    ],
    log: { level: 'info', access: 'off' },
    drain: { timeoutMs: 500 },
  }))
  const gw = await spawnGateway(file, ['triple', 'admin'])
  t.teardown(async () => { gw.child.kill('SIGTERM'); await gw.exited })
  const admin = gw.ports.admin

  const outcomes: Outcome[] = []
  let seq = 0
  let stopped = false
  // Teardowns run last-first: this one, first, ends every caller loop even when the test fails.
  t.teardown(() => { stopped = true })
  const clients = new Map<string, LdcClient>()
  const client = (svc: LdcService, lane: number): LdcClient => {
    const key = `${svc}/${lane}`
    let c = clients.get(key)
    if (c === undefined) { c = ldcClient(gw.ports.triple, svc, { 'grpc.channel_id': key }); clients.set(key, c); t.teardown(() => c!.close()) }
    return c
  }
  const worker = async (kind: Outcome['kind'], lane: number, pauseMs: number, until: () => boolean): Promise<void> => {
    const svc: LdcService = kind === 'light' ? 'Config' : 'Account'
    const md: Record<string, string> = kind === 'stress' ? { 'tri-traffic-type': 'pressure' } : {}
    while (!stopped && !until()) {
      let code = 0
      let details = ''
      try { await callTriple(client(svc, lane), md, {}, { deadline: Date.now() + 60000 }) } catch (e) { code = (e as grpc.ServiceError).code; details = (e as grpc.ServiceError).details }
      outcomes.push({ seq: seq++, kind, code, details })
      // Refusals answer at once: pause so refused callers do not spin.
      if (code !== 0 || pauseMs > 0) await sleep(code !== 0 ? 5 : pauseMs)
    }
  }

  // Calm first: the limiter learns the heavy service's baseline (one caller at a time).
  let warm = true
  const warmup = [worker('heavy', 0, 0, () => !warm), worker('light', 0, 10, () => false)]
  await until('calm windows with traffic', admin, s => windows(s, 'calm') >= 8)
  warm = false
  await warmup[0]
  const before = outcomes.length

  // Overload: 30 heavy callers (6 of them stress-test traffic).
  const heavy = [
    ...Array.from({ length: 24 }, (_, i) => worker('heavy', i % 4, 0, () => false)),
    ...Array.from({ length: 6 }, (_, i) => worker('stress', i % 2, 0, () => false)),
  ]
  const hot = await until('an overloaded window', admin, s => windows(s, 'overloaded') > 0)
  t.pass(`overloaded: the burn pushed event-loop delay over ${THRESHOLD_MS} ms`)
  const capped = await until('the heavy service capped', admin, s => shed(s, 'concurrency') > 0)
  // From here on the load continues unchanged: the loop must be back under the threshold in
  // most windows the gateway samples (a cap that grows while calm crosses it now and then).
  const from = await scrape(admin)
  await until('24 more windows', admin, s => windows(s, 'calm') + windows(s, 'overloaded') >= windows(from, 'calm') + windows(from, 'overloaded') + 24)
  const to = await scrape(admin)
  stopped = true
  await Promise.all([...heavy, warmup[1]])

  const calm = windows(to, 'calm') - windows(from, 'calm')
  const over = windows(to, 'overloaded') - windows(from, 'overloaded')
  t.log(`windows after capping: ${calm} calm, ${over} overloaded; shed: stress ${shed(to, 'stress')}, concurrency ${shed(to, 'concurrency')}`)
  t.true(windows(hot, 'overloaded') > 0)
  t.true(shed(capped, 'stress') > 0, 'stress calls were shed by the time heavy ones were')
  t.true(calm >= 2 * over, `the loop is under the threshold in most windows (${calm} calm, ${over} overloaded)`)

  const during = outcomes.slice(before)
  const refused = during.filter(o => o.code !== 0)
  t.true(refused.every(o => o.code === grpc.status.RESOURCE_EXHAUSTED && /^rate limited: adaptive: /.test(o.details)), JSON.stringify(refused.find(o => o.code !== grpc.status.RESOURCE_EXHAUSTED)))
  const firstStress = refused.find(o => o.kind === 'stress')
  const firstNormal = refused.find(o => o.kind !== 'stress')
  t.truthy(firstStress, 'stress calls were refused')
  t.truthy(firstNormal, 'heavy calls were refused too (capped)')
  t.true(firstStress!.seq < firstNormal!.seq, 'a stress call was refused before any normal call')
  t.false(refused.some(o => o.kind === 'light'), 'the light service is never shed')
  const light = during.filter(o => o.kind === 'light')
  const ok = light.filter(o => o.code === 0).length
  t.log(`light: ${ok}/${light.length} ok`)
  t.true(light.length >= 20)
  t.true(ok / light.length >= 0.95)
})
