/**
 * `tsx bench/discovery-push.ts`: the event-loop time of one app push into an admin store that
 * already holds BENCH_APPS apps (default 2,000; 4 instances x 5 services each, as the
 * many-apps mode of bench/discovery.ts), with the real config compiler, no network. Robust
 * to load (CPU time of one synchronous path, median of many), so it is the number to compare
 * before/after a change to the write path. Run under `node --cpu-prof --import tsx` to profile.
 */
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import { AdminStore } from '../admin/store.js'
import { resourceKey } from '../admin/effective.js'
import { HostRegistry } from '../gateway/cluster/host.js'
import { compileSnapshot } from '../gateway/config/compile.js'
import { validateOptions } from '../gateway/config/load.js'
import { registerBuiltinFilters } from '../filters/index.js'
import { appBody } from './lib/app-body.js'

registerBuiltinFilters()
const APPS = Number(process.env.BENCH_APPS ?? 2000)
const PUSHES = Number(process.env.BENCH_PUSHES ?? 1000)
const logger = pino({ level: 'silent' })
const base = validateOptions({ entity: 'bench', listeners: { triple: { port: 0 } } })
const hosts = new HostRegistry()
const deps = { hosts, logger, baseDir: process.cwd(), nodeId: 'bench' }
const store = await AdminStore.open({ baseOptions: base, logger, nodeId: 'bench', compile: async (o, r, previous) => await compileSnapshot(o, r, deps, previous), apply: () => {}, hosts })
let rev = 1
for (let a = 0; a < APPS; a++) await store.write(resourceKey('app', `app${a}`), ++rev, () => appBody(a, 0))
const xs: number[] = []
for (let k = 0; k < PUSHES; k++) {
  const a = (k * 7919) % APPS
  const t0 = performance.now()
  await store.write(resourceKey('app', `app${a}`), ++rev, () => appBody(a, rev))
  xs.push(performance.now() - t0)
}
await store.close()
xs.sort((a, b) => a - b)
const q = (p: number): number => Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] * 1000) / 1000
console.log(JSON.stringify({ apps: APPS, pushes: PUSHES, clusters: store.snapshot.clusters.size, routes: store.options.routes.length, pushMs: { median: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) } }))
