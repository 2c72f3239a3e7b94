/**
 * `npm run bench:discovery`: discovery pushes through the admin store with the real config
 * compiler (issue 4 "Benchmark").
 *  1. app-level push of 10,000 instances x 20 services vs the same data as 20 interface-level
 *     pushes; then 1,000 one-host deltas. Time per push (median, p99), heap growth.
 *  2. data volume: app-level vs interface-level (entries, bytes).
 *  3. subset selection: SubsetIndex (Uint32Array bitmaps) vs fastbitset.
 *  4. forwarding p99 of a steady grpc-js load through a real gateway, quiet vs during pushes.
 *  BENCH_APPS=2000: the many-apps mode instead (see manyApps).
 * Writes bench/results/discovery-<ts>.json.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import { AdminStore } from '../admin/store.js'
import { resourceKey } from '../admin/effective.js'
import type { AppPushOptions, ServicePushOptions } from '../admin/discovery/model.js'
import { Host, HostRegistry } from '../gateway/cluster/host.js'
import { SubsetIndex } from '../gateway/cluster/subsets.js'
import { compileSnapshot } from '../gateway/config/compile.js'
import { validateOptions } from '../gateway/config/load.js'
import { startGateway } from '../gateway/lifecycle/start.js'
import { echoClient, startEchoServer, unary } from '../test/_peers/grpc-echo.js'
import { registerBuiltinFilters } from '../filters/index.js'
import { appBody } from './lib/app-body.js'

registerBuiltinFilters()

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10_000)
const SERVICES = 20
const DELTAS = Number(process.env.BENCH_DELTAS ?? 1000)
const logger = pino({ level: 'silent' })
const gc = (globalThis as { gc?: () => void }).gc

function stats (xs: number[]): { n: number, median: number, p99: number, max: number } {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return { n: s.length, median: round(q(0.5)), p99: round(q(0.99)), max: round(s[s.length - 1]) }
}
function round (x: number): number { return Math.round(x * 1000) / 1000 }
function heapMb (): number { gc?.(); return process.memoryUsage().heapUsed / 1048576 }

const services = Array.from({ length: SERVICES }, (_, i) => ({ name: `com.acme.shop.Service${i}`, version: '1.0' }))
function instance (i: number) {
  return { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 50051, protocols: ['triple' as const], zone: `gz0${i % 4}`, labels: { cell: `c${i % 16}` } }
}
const instances = Array.from({ length: INSTANCES }, (_, i) => instance(i))
const appPush: AppPushOptions = { instances, services }

async function openStore () {
  const base = validateOptions({ entity: 'bench', listeners: { triple: { port: 0 } } })
  const hosts = new HostRegistry()
  const deps = { hosts, logger, baseDir: process.cwd(), nodeId: 'bench' }
  return await AdminStore.open({ baseOptions: base, logger, nodeId: 'bench', compile: (o, r, previous) => compileSnapshot(o, r, deps, previous), apply: () => {}, hosts })
}

async function pushes () {
  // app-level: 5 rounds of the full push (new revision each time, same data)
  const store = await openStore()
  const h0 = heapMb()
  const full: number[] = []
  let heapGrowth = 0
  for (let r = 1; r <= 5; r++) {
    // Fresh objects each round, as a pushed body parses into (the same objects would be a
    // no-op splice now that the store reuses unchanged instances).
    const body = JSON.parse(JSON.stringify(appPush)) as AppPushOptions
    const before = heapMb()
    const t0 = performance.now()
    await store.write(resourceKey('app', 'shop'), r, () => body)
    full.push(performance.now() - t0)
    if (r === 1) heapGrowth = heapMb() - before
  }
  // interface-level: the same data as 20 pushes of 10,000 providers each
  const store2 = await openStore()
  const iface: number[] = []
  const before2 = heapMb()
  for (const s of services) {
    const body: ServicePushOptions = { app: 'shop', version: s.version, providers: instances }
    const t0 = performance.now()
    await store2.write(resourceKey('service', s.name), 1, () => body)
    iface.push(performance.now() - t0)
  }
  const ifaceHeap = heapMb() - before2
  const norm = (s: AdminStore): string => JSON.stringify(s.options.clusters.map(c => ({ ...c, hosts: c.hosts.map(h => ({ ...h, labels: Object.fromEntries(Object.entries(h.labels ?? {}).sort()) })) })))
  const same = norm(store) === norm(store2)
  // 1,000 one-host deltas on the app-level store: remove one, add it back. (Until 2026-11-25
  // the add-back appended a different, still present instance: a duplicate the assembler
  // then had to dedup on every later delta.)
  const deltas: number[] = []
  let rev = 10
  for (let i = 0; i < DELTAS; i++) {
    const victim = instances[((i >> 1) * 7919) % INSTANCES]
    const remove = i % 2 === 0
    const t0 = performance.now()
    await store.write(resourceKey('app', 'shop'), ++rev, (cur) => {
      const c = cur as AppPushOptions
      const list = remove ? c.instances.filter(x => x.address !== victim.address) : [...c.instances, victim]
      return { ...c, instances: list }
    })
    deltas.push(performance.now() - t0)
  }
  const heapAfter = heapMb()
  await store.close(); await store2.close()
  return {
    appLevelFullPushMs: stats(full),
    appLevelHeapGrowthMb: round(heapGrowth),
    interfaceLevelPushMs: stats(iface),
    interfaceLevelTotalMs: round(iface.reduce((a, b) => a + b, 0)),
    interfaceLevelHeapGrowthMb: round(ifaceHeap),
    sameClustersBothWays: same,
    oneHostDeltaMs: stats(deltas),
    // The same without the first 100 (JIT warm-up): what remains in the p99 is young-generation
    // GC (each delta still copies a few 10,000-entry pointer arrays).
    oneHostDeltaSteadyMs: stats(deltas.slice(100)),
    heapAfterDeltasMb: round(heapAfter - h0),
  }
}

/**
 * The same one-host deltas with the state file on (ext4 here): each write is journaled and
 * fsynced before it returns, and the journal is compacted in the background.
 */
async function persisted () {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-bench-state-'))
  const statePath = join(dir, 'state.json')
  const base = validateOptions({ entity: 'bench', listeners: { triple: { port: 0 } } })
  const hosts = new HostRegistry()
  const deps = { hosts, logger, baseDir: process.cwd(), nodeId: 'bench' }
  const store = await AdminStore.open({ baseOptions: base, logger, nodeId: 'bench', statePath, compile: (o, r, previous) => compileSnapshot(o, r, deps, previous), apply: () => {}, hosts })
  const body = JSON.parse(JSON.stringify(appPush)) as AppPushOptions
  let t0 = performance.now()
  await store.write(resourceKey('app', 'shop'), 1, () => body)
  const fullMs = performance.now() - t0
  const journal = join(dir, 'state.json.journal')
  const size = (f: string): number => existsSync(f) ? statSync(f).size : 0
  const deltas: number[] = []
  let bytes = 0
  let rev = 1
  for (let i = 0; i < DELTAS; i++) {
    const victim = instances[((i >> 1) * 7919) % INSTANCES]
    const before = size(journal)
    t0 = performance.now()
    await store.write(resourceKey('app', 'shop'), ++rev, (cur) => {
      const c = cur as AppPushOptions
      return { ...c, instances: i % 2 === 0 ? c.instances.filter(x => x.address !== victim.address) : [...c.instances, victim] }
    })
    deltas.push(performance.now() - t0)
    const after = size(journal)
    // Journal growth; without a journal (the pre-journal store) each write rewrote the file.
    bytes += after > before ? after - before : existsSync(journal) ? 0 : size(statePath)
  }
  await store.close()
  const stateBytes = size(statePath)
  rmSync(dir, { recursive: true, force: true })
  return { fsync: true, fullPushMs: round(fullMs), oneHostDeltaMs: stats(deltas), bytesWrittenPerDelta: round(bytes / DELTAS), stateFileBytes: stateBytes }
}

function volume () {
  const app = JSON.stringify({ revision: 1, ...appPush })
  let ifaceBytes = 0
  for (const s of services) ifaceBytes += Buffer.byteLength(JSON.stringify({ revision: 1, app: 'shop', version: s.version, providers: instances }))
  return {
    appLevel: { entries: INSTANCES + SERVICES, bytes: Buffer.byteLength(app) },
    interfaceLevel: { entries: INSTANCES * SERVICES, bytes: ifaceBytes },
    entriesCut: round((INSTANCES * SERVICES) / (INSTANCES + SERVICES)),
    bytesCut: round(ifaceBytes / Buffer.byteLength(app)),
  }
}

function subsets () {
  const require = createRequire(import.meta.url)
  const FastBitSet = require('fastbitset') as new (v?: number[]) => { add (i: number): void, intersection (o: unknown): unknown, array (): number[], new_intersection (o: unknown): { array (): number[] } }
  const hosts = instances.map((x, i) => new Host({ address: x.address, port: x.port, zone: x.zone, labels: { cell: x.labels.cell, [`service:s${i % SERVICES}`]: 'true' } }))
  const selectors = Array.from({ length: SERVICES }, (_, i) => ({ [`service:s${i}`]: 'true', cell: `c${i % 16}` }))
  const reps = 20
  // SubsetIndex: build + uncached selects (a new index each rep, so no cache hits)
  let t0 = performance.now()
  let n1 = 0
  for (let r = 0; r < reps; r++) {
    const idx = new SubsetIndex(hosts, h => h.labels)
    for (const s of selectors) n1 += idx.select(s).length
  }
  const ours = (performance.now() - t0) / reps
  // fastbitset: same work
  t0 = performance.now()
  let n2 = 0
  for (let r = 0; r < reps; r++) {
    const maps = new Map<string, InstanceType<typeof FastBitSet>>()
    for (let i = 0; i < hosts.length; i++) {
      const l = hosts[i].labels
      for (const k in l) { const key = `${k}=${l[k]}`; let b = maps.get(key); if (b === undefined) { b = new FastBitSet(); maps.set(key, b) } b.add(i) }
      const zk = `zone=${hosts[i].zone}`; let z = maps.get(zk); if (z === undefined) { z = new FastBitSet(); maps.set(zk, z) } z.add(i)
    }
    for (const s of selectors) {
      const keys = Object.keys(s).map(k => `${k}=${s[k]}`)
      let acc = maps.get(keys[0])!.new_intersection(maps.get(keys[1])!)
      n2 += acc.array().map(i => hosts[i]).length
      acc = acc as never
    }
  }
  const fbs = (performance.now() - t0) / reps
  // cached select cost
  const idx = new SubsetIndex(hosts, h => h.labels)
  for (const s of selectors) idx.select(s)
  t0 = performance.now()
  for (let i = 0; i < 1_000_000; i++) idx.select(selectors[i % SERVICES])
  const cachedNs = (performance.now() - t0) * 1e6 / 1_000_000
  return { hosts: hosts.length, selectors: selectors.length, subsetIndexBuildAndSelectMs: round(ours), fastbitsetBuildAndSelectMs: round(fbs), sameResults: n1 === n2, kept: ours <= fbs ? 'SubsetIndex' : 'fastbitset (faster, not yet switched)', cachedSelectNs: round(cachedNs) }
}

/**
 * Forwarding p99 of a steady grpc-js load, quiet vs while pushes happen, in alternated rounds
 * (quiet, during, quiet, during, ...; PERF.md): the machines are shared, so one quiet window
 * followed by one push window compared two different moments of the machine's load. Each
 * "during" window starts with a full push of the 10k-instance app (a new revision) and then
 * patches one host every 20 ms (remove it, add it back). The full-push body is serialised
 * once, outside the windows: the load client shares the gateway's event loop, and building a
 * 1 MB JSON per round was the benchmark's own cost, not the gateway's.
 */
async function forwarding () {
  const up = await startEchoServer('bench-up')
  const options = validateOptions({
    entity: 'bench', log: { level: 'silent', access: 'off' },
    listeners: { triple: { port: 0 }, admin: { token: 'bench' } },
  })
  const gw = await startGateway(options, { baseDir: process.cwd(), logger, nodeId: 'bench' })
  const admin = `http://127.0.0.1:${gw.addresses.admin.port}`
  const put = async (path: string, body: unknown, method = 'PUT'): Promise<void> => {
    const r = await fetch(admin + path, { method, headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`)
  }
  await put('/v1/discovery/apps/echo', { revision: 1, instances: [{ address: '127.0.0.1', port: up.port }], services: [{ name: 'isthmus.test.Echo' }] })
  const client = echoClient(gw.addresses.triple!.port)
  const load = async (ms: number): Promise<number[]> => {
    const lat: number[] = []
    const end = performance.now() + ms
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await unary(client, { message: 'x' })
        lat.push(performance.now() - t0)
      }
    }))
    return lat
  }
  const appJson = JSON.stringify(appPush).slice(1) // '"instances":...}' to prefix with a revision
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
  const WINDOW_MS = 2000
  await load(1000) // warm-up
  const quiet: number[] = []
  const during: number[] = []
  const ratios: number[] = []
  const fullPushMs: number[] = []
  const patchMs: number[] = []
  let pushes = 0
  let rev = 1
  for (let round = 0; round < ROUNDS; round++) {
    const q = await load(WINDOW_MS)
    let pushing = true
    const pusher = (async () => {
      let t0 = performance.now()
      await put('/v1/discovery/apps/shop', `{"revision":${++rev},${appJson}`); pushes++
      fullPushMs.push(performance.now() - t0)
      for (let k = 0; pushing; k++) {
        // remove one host, then add the same one back
        const i = ((k >> 1) * 31) % INSTANCES
        t0 = performance.now()
        await put('/v1/clusters/shop:triple/hosts', { revision: ++rev, ...(k % 2 === 0 ? { remove: [`${instances[i].address}:50051`] } : { add: [{ address: instances[i].address, port: 50051 }] }) }, 'PATCH')
        patchMs.push(performance.now() - t0)
        pushes++
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    })()
    const d = await load(WINDOW_MS)
    pushing = false
    await pusher
    quiet.push(...q)
    during.push(...d)
    ratios.push(round3(stats(d).p99 / stats(q).p99))
  }
  client.close()
  await gw.close()
  await up.close()
  const sorted = [...ratios].sort((a, b) => a - b)
  return {
    concurrency: 8,
    rounds: ROUNDS,
    windowMs: WINDOW_MS,
    quietMs: stats(quiet),
    duringPushesMs: stats(during),
    pushesDuring: pushes,
    p99RatioPerRound: ratios,
    p99Ratio: sorted[sorted.length >> 1],
    pooledP99Ratio: round3(stats(during).p99 / stats(quiet).p99),
    fullPushOverHttpMs: stats(fullPushMs),
    patchOverHttpMs: stats(patchMs),
  }
}
function round3 (x: number): number { return Math.round(x * 1000) / 1000 }

/**
 * The many-apps mode (`BENCH_APPS=2000 npm run bench:discovery`, issue 9 item 13: after 2,000
 * apps each push took ~227 ms and forwarding latency peaked at 795 ms). A real gateway holds
 * BENCH_APPS apps (4 instances x 5 services each, Triple and Bolt); a steady grpc-js load
 * (8 in flight) runs in alternated quiet / pushing windows. A pushing window re-pushes apps
 * (each changes one instance) every BENCH_PUSH_GAP_MS (20; 0: back to back), with a
 * 1,000-instance app push at its start.
 * Reports the push time at that size (in the store, and over HTTP) and forwarding p99,
 * pushing vs quiet.
 */
async function manyApps (apps: number) {
  // 1. In the store, without the network: the time of one push at 0, 1/10 and all apps.
  const store = await openStore()
  const inStore: Record<string, ReturnType<typeof stats>> = {}
  let rev = 1
  const sample = async (label: string): Promise<void> => {
    const xs: number[] = []
    for (let k = 0; k < 200; k++) {
      const a = (k * 7919) % Math.max(1, store.entries().size)
      const t0 = performance.now()
      await store.write(resourceKey('app', `app${a}`), ++rev, () => appBody(a, rev))
      xs.push(performance.now() - t0)
    }
    inStore[label] = stats(xs)
  }
  for (let a = 0; a < apps; a++) {
    await store.write(resourceKey('app', `app${a}`), ++rev, () => appBody(a, 0))
    if (a + 1 === Math.max(1, apps / 100) || a + 1 === apps / 10 || a + 1 === apps) await sample(`${a + 1} apps`)
  }
  await store.close()

  // 2. A real gateway under load.
  const up = await startEchoServer('bench-up')
  const options = validateOptions({ entity: 'bench', log: { level: 'silent', access: 'off' }, listeners: { triple: { port: 0 }, admin: { token: 'bench', maxBodyBytes: 16 * 1024 * 1024 } } })
  const gw = await startGateway(options, { baseDir: process.cwd(), logger, nodeId: 'bench' })
  const admin = `http://127.0.0.1:${gw.addresses.admin.port}`
  const put = async (path: string, body: string): Promise<void> => {
    const r = await fetch(admin + path, { method: 'PUT', headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body })
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`)
  }
  await put('/v1/discovery/apps/echo', JSON.stringify({ revision: 1, instances: [{ address: '127.0.0.1', port: up.port }], services: [{ name: 'isthmus.test.Echo' }] }))
  for (let a = 0; a < apps; a++) await put(`/v1/discovery/apps/app${a}`, JSON.stringify({ revision: 1, ...appBody(a, 0) }))
  const big = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ address: `10.250.${i >> 8}.${i & 255}`, port: 50051 })))
  const client = echoClient(gw.addresses.triple!.port)
  const load = async (ms: number): Promise<number[]> => {
    const lat: number[] = []
    const end = performance.now() + ms
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await unary(client, { message: 'x' })
        lat.push(performance.now() - t0)
      }
    }))
    return lat
  }
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
  const WINDOW_MS = 2000
  // Pause between app pushes (the 10k-instance benchmark above patches every 20 ms); 0: back
  // to back, the admin taking all the event loop it can.
  const GAP_MS = Number(process.env.BENCH_PUSH_GAP_MS ?? 20)
  await load(1000)
  const quiet: number[] = []
  const during: number[] = []
  const ratios: number[] = []
  const pushMs: number[] = []
  const bigMs: number[] = []
  let r2 = 1
  for (let round = 0; round < ROUNDS; round++) {
    const q = await load(WINDOW_MS)
    let pushing = true
    const pusher = (async () => {
      let t0 = performance.now()
      await put('/v1/discovery/apps/big', `{"revision":${++r2},"services":[{"name":"com.acme.Big"}],"instances":${big}}`)
      bigMs.push(performance.now() - t0)
      for (let k = 0; pushing; k++) {
        const a = (k * 7919 + round) % apps
        t0 = performance.now()
        await put(`/v1/discovery/apps/app${a}`, JSON.stringify({ revision: ++r2, ...appBody(a, r2) }))
        pushMs.push(performance.now() - t0)
        if (GAP_MS > 0) await new Promise(resolve => setTimeout(resolve, GAP_MS))
      }
    })()
    const d = await load(WINDOW_MS)
    pushing = false
    await pusher
    quiet.push(...q)
    during.push(...d)
    ratios.push(round3(stats(d).p99 / stats(q).p99))
  }
  client.close()
  await gw.close()
  await up.close()
  const sorted = [...ratios].sort((a, b) => a - b)
  return {
    apps,
    perApp: '4 instances x 5 services, triple + bolt',
    pushInStoreMs: inStore,
    forwarding: {
      concurrency: 8,
      rounds: ROUNDS,
      windowMs: WINDOW_MS,
      quietMs: stats(quiet),
      duringPushesMs: stats(during),
      pushesDuring: pushMs.length + bigMs.length,
      p99RatioPerRound: ratios,
      p99Ratio: sorted[sorted.length >> 1],
      pooledP99Ratio: round3(stats(during).p99 / stats(quiet).p99),
      pushGapMs: GAP_MS,
      appPushOverHttpMs: stats(pushMs),
      thousandInstancePushOverHttpMs: stats(bigMs),
    },
  }
}

const result: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, instances: INSTANCES, services: SERVICES, deltas: DELTAS, gcExposed: gc !== undefined }
const APPS = Number(process.env.BENCH_APPS ?? 0)
if (APPS > 0) {
  result.manyApps = await manyApps(APPS)
} else if (process.env.BENCH_SKIP_PUSHES === undefined) {
  result.pushes = await pushes()
  result.persisted = await persisted()
  result.volume = volume()
  result.subsets = subsets()
}
if (APPS === 0 && process.env.BENCH_SKIP_FORWARDING === undefined) result.forwarding = await forwarding()
console.log(JSON.stringify(result, null, 2))
mkdirSync('bench/results', { recursive: true })
const file = `bench/results/discovery-${APPS > 0 ? `${APPS}-apps-` : ''}${(result.date as string).replace(/[:.]/g, '-')}.json`
writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
console.log(`wrote ${file}`)
process.exit(0)
