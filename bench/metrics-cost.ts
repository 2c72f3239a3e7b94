/**
 * Microbench: what the per-call metric updates cost with prom-client (as the call path used
 * them before) against plain number fields read at scrape time. `tsx bench/metrics-cost.ts`
 */
import { performance } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

const registry = new Registry()
const gauge = new Gauge({ name: 'g', help: 'h', labelNames: ['listener'] as const, registers: [registry] })
const hist = new Histogram({ name: 'h', help: 'h', labelNames: ['listener'] as const, buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] })
const counter = new Counter({ name: 'c', help: 'h', labelNames: ['listener', 'service', 'status'] as const, registers: [registry] })
const LABELS = Object.freeze({ listener: 'triple' })
const children = new Map<string, ReturnType<typeof counter.labels>>()
const statuses = [0, 0, 0, 0, 0, 0, 0, 14]

function promClient (i: number, service: string): void {
  gauge.inc(LABELS)
  const status = statuses[i & 7]
  const key = `triple\u0000${service}\u0000${status}`
  let child = children.get(key)
  if (child === undefined) { child = counter.labels('triple', service, String(status)); children.set(key, child) }
  gauge.dec(LABELS)
  child.inc()
  hist.observe(LABELS, (i % 1000) / 1e6)
}

// Plain fields: one object per (listener, service) holding per-status counts and buckets.
const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
class Series { active = 0; count = 0; sum = 0; readonly buckets = new Float64Array(BOUNDS.length + 1); readonly byStatus = new Float64Array(17) }
const series = new Map<string, Series>()
function plain (i: number, service: string): void {
  let s = series.get(service)
  if (s === undefined) { s = new Series(); series.set(service, s) }
  s.active++
  const status = statuses[i & 7]
  s.active--
  s.byStatus[status]++
  const v = (i % 1000) / 1e6
  let b = 0
  while (b < BOUNDS.length && v > BOUNDS[b]) b++
  s.buckets[b]++
  s.count++
  s.sum += v
}

function run (name: string, f: (i: number, s: string) => void, n: number): number {
  const svc = ['isthmus.example.Greeter', 'com.example.EchoService']
  for (let i = 0; i < 200000; i++) f(i, svc[i & 1]) // warm-up
  const t0 = performance.now()
  for (let i = 0; i < n; i++) f(i, svc[i & 1])
  const ns = (performance.now() - t0) * 1e6 / n
  process.stdout.write(`${name.padEnd(12)} ${ns.toFixed(0).padStart(6)} ns per call\n`)
  return ns
}

const N = 2_000_000
const res: Record<string, number[]> = { promClient: [], plain: [] }
for (let r = 0; r < 3; r++) {
  res.promClient.push(run('prom-client', promClient, N))
  res.plain.push(run('plain', plain, N))
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]
process.stdout.write(`median: prom-client ${med(res.promClient).toFixed(0)} ns, plain ${med(res.plain).toFixed(0)} ns per call\n`)

// Filter counters (issue 14): prom-client's labelled inc per call, as CompileContext.counter
// did, against the plain-field PlainCounter the gateway now gives filters.
const { PlainCounter } = await import('../gateway/metrics.js')
const promFilter = new Counter({ name: 'f_prom_total', help: 'h', labelNames: ['result'] as const, registers: [registry] })
const plainFilter = new PlainCounter('f_plain_total', 'h', ['result'])
const RESULTS = [Object.freeze({ result: 'allowed' }), Object.freeze({ result: 'denied' })]
const cells = RESULTS.map(l => plainFilter.cell(l))
const fres: Record<string, number[]> = { promInc: [], plainInc: [], cell: [] }
for (let r = 0; r < 3; r++) {
  fres.promInc.push(run('prom inc', (i) => promFilter.inc(RESULTS[i & 1]), N))
  fres.plainInc.push(run('plain inc', (i) => plainFilter.inc(RESULTS[i & 1]), N))
  fres.cell.push(run('cell.n++', (i) => { cells[i & 1].n++ }, N))
}
process.stdout.write(`median: filter counter prom-client inc ${med(fres.promInc).toFixed(0)} ns, PlainCounter.inc ${med(fres.plainInc).toFixed(0)} ns, cell.n++ ${med(fres.cell).toFixed(0)} ns\n`)
