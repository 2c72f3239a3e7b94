/**
 * `tsx bench/discovery-push-http.ts`: one app push through a real gateway's admin API
 * (HTTP, JSON parse, validation, store, compile, data-plane swap) with BENCH_APPS apps
 * (default 2,000) already pushed, pushes back to back with no other load: the time per push
 * is the event-loop time a push costs the gateway (plus the in-process client's small share).
 * Run under `node --cpu-prof --import tsx` to profile the whole write path.
 */
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import { validateOptions } from '../gateway/config/load.js'
import { startGateway } from '../gateway/lifecycle/start.js'
import { registerBuiltinFilters } from '../filters/index.js'
import { appBody } from './lib/app-body.js'

registerBuiltinFilters()
const APPS = Number(process.env.BENCH_APPS ?? 2000)
const PUSHES = Number(process.env.BENCH_PUSHES ?? 1000)
const logger = pino({ level: 'silent' })
const options = validateOptions({ entity: 'bench', log: { level: 'silent', access: 'off' }, listeners: { triple: { port: 0 }, admin: { token: 'bench' } } })
const gw = await startGateway(options, { baseDir: process.cwd(), logger, nodeId: 'bench' })
const admin = `http://127.0.0.1:${gw.addresses.admin.port}`
const put = async (path: string, body: string): Promise<void> => {
  const r = await fetch(admin + path, { method: 'PUT', headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body })
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`)
}
let rev = 1
for (let a = 0; a < APPS; a++) await put(`/v1/discovery/apps/app${a}`, JSON.stringify({ revision: ++rev, ...appBody(a, 0) }))
const xs: number[] = []
for (let k = 0; k < PUSHES; k++) {
  const a = (k * 7919) % APPS
  const body = JSON.stringify({ revision: ++rev, ...appBody(a, rev) })
  const t0 = performance.now()
  await put(`/v1/discovery/apps/app${a}`, body)
  xs.push(performance.now() - t0)
}
await gw.close()
xs.sort((a, b) => a - b)
const q = (p: number): number => Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] * 1000) / 1000
console.log(JSON.stringify({ apps: APPS, pushes: PUSHES, pushMs: { median: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) } }))
process.exit(0)
