/**
 * `npm run bench:connections`: memory per idle connection, Isthmus beside a bare Node server of
 * the same kind, in one run. Kinds: plain Bolt (one heartbeat, then silent), mutual-TLS Bolt,
 * h2c (preface + SETTINGS, no stream). Connections come from several client processes
 * (bench/idle-clients.ts), each binding its own source address in 127.0.0.0/8 (a process may
 * hold at most 20,000 open files here). Per kind and server: RSS (VmRSS of every process of the
 * server, summed) and heap after a full GC (every process of either server: the gateway runs
 * with bench/lib/gc-hook.cjs preloaded) before and after, divided by the count; then the
 * gateway's idle CPU and event-loop delay over IDLE_MS with every connection open (the
 * gateway's `isthmus_nodejs_eventloop_lag_*`, already the delay beyond the monitor's interval).
 * Env: CONNS (per kind, 15000), CLIENTS (client processes, 4), WORKERS (gateway workers, 1),
 * IDLE_MS (10000), KINDS (bolt,bolt-tls,h2c), SKIP_BARE=1 (the gateway only: a bare server is one
 * process, so it cannot hold more than ~19,000), SNAPSHOT=1 (per-connection heap by constructor). Writes bench/results/connections-<time>.json.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GC_HOOK_ARGS, heapAfterGc } from './lib/heap.js'
import { diff, groups } from './lib/heap-snapshot-diff.js'
import { cpuMicros, freePort, sleep, startChild, stopChild, waitForPort, type Child } from './lib/proc.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const CONNS = Number(process.env.CONNS ?? 15000)
const CLIENTS = Number(process.env.CLIENTS ?? 4)
const WORKERS = Number(process.env.WORKERS ?? 1)
const IDLE_MS = Number(process.env.IDLE_MS ?? 10000)
const KINDS = (process.env.KINDS ?? 'bolt,bolt-tls,h2c').split(',') as Kind[]
const SKIP_BARE = process.env.SKIP_BARE === '1'
/** SNAPSHOT=1: a heap snapshot with each heap figure, and what one connection retains (snapshot after minus before, per connection, by constructor) printed and written to bench/results/conn-heap-snap-<kind>-<server>.txt. Use a few thousand CONNS. */
const SNAPSHOT = process.env.SNAPSHOT === '1'
if (SNAPSHOT) process.env.ISTHMUS_BENCH_SNAPSHOT = '1'
/** Wait after the forced GC before the idle window (V8's concurrent sweeping of a big heap runs on after it). */
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 5000)
type Kind = 'bolt' | 'bolt-tls' | 'h2c'
const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-bench-conns-'))
process.env.ISTHMUS_BENCH_HEAP_DIR = tmp // read by the gateway's gc hook (workers inherit it)
const cli = join(root, 'dist/bin/isthmus.js')

function certs (): { ca: string, server: { cert: string, key: string }, client: { cert: string, key: string } } {
  const ca = join(tmp, 'ca')
  const run = (...a: string[]): void => { execFileSync(process.execPath, [cli, 'certs', ...a], { stdio: 'ignore' }) }
  run('init-ca', '--entity', 'acme', '--out', ca)
  run('issue', '--ca', ca, '--entity', 'acme', '--app', 'gw', '--out', join(tmp, 'server'), '--name', 'tls', '--server', '--ip', '127.0.0.1', '--dns', 'localhost')
  run('issue', '--ca', ca, '--entity', 'acme', '--app', 'client', '--out', join(tmp, 'client'), '--name', 'tls', '--client')
  return {
    ca: join(tmp, 'server', 'ca.crt'),
    server: { cert: join(tmp, 'server', 'tls.crt'), key: join(tmp, 'server', 'tls.key') },
    client: { cert: join(tmp, 'client', 'tls.crt'), key: join(tmp, 'client', 'tls.key') },
  }
}

function rssOf (pids: number[]): number {
  let n = 0
  for (const p of pids) {
    try { n += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024 } catch {}
  }
  return n
}

/** Time on CPU of every thread of `pids` in ns (schedstat: finer than stat's 10 ms ticks, which a 1 s step of an idle process needs). */
function runNanos (pids: number[]): number {
  let n = 0
  for (const p of pids) {
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        try { n += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]) } catch {} // a thread that just ended
      }
    } catch {} // a process that just ended
  }
  return n
}

/** lag(): the event-loop delay since the last call (a scrape resets the monitor): p99 (prom-client averages it over the workers) and max (the highest of any process). */
interface Server { name: string, child: Child, port: number, pids (): Promise<number[]>, heap (): Promise<number>, lag (): Promise<{ p99: number, max: number }> }

async function gateway (kind: Kind, tls: ReturnType<typeof certs> | null): Promise<Server> {
  const [port, admin] = [await freePort(), await freePort()]
  const big = 100000000
  const listener = kind === 'h2c'
    ? `triple: { host: 0.0.0.0, port: ${port}, limits: { maxConnections: ${big}, maxConnectionsPerSource: ${big}, firstByteTimeoutMs: ${big}, headersTimeoutMs: ${big}, idleTimeoutMs: ${big} } }`
    : `bolt: { host: 0.0.0.0, port: ${port}, idleTimeoutMs: ${big}, limits: { maxConnections: ${big}, maxConnectionsPerSource: ${big}, firstByteTimeoutMs: ${big} }${kind === 'bolt-tls' && tls !== null ? `, tls: { cert: ${tls.server.cert}, key: ${tls.server.key}, ca: ${tls.ca}, requireClientCert: true }` : ''} }`
  const file = join(tmp, `gw-${kind}.yaml`)
  writeFileSync(file, `entity: acme\nlisteners:\n  ${listener}\n  admin: { host: 127.0.0.1, port: ${admin}, token: bench }\nlog: { level: warn, access: off }\n`)
  const child = startChild(`isthmus-${kind}`, process.execPath, [...GC_HOOK_ARGS, cli, 'start', '-c', file, '--workers', String(WORKERS)], root)
  await waitForPort(child, admin, 60000)
  await waitForPort(child, port, 60000)
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()
  const sum = (text: string, name: string): number => text.split('\n').filter(l => l.startsWith(name + ' ') || l.startsWith(name + '{')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0)
  const pids = async (): Promise<number[]> => {
    if (WORKERS <= 1) return [child.pid]
    const b = await (await fetch(`http://127.0.0.1:${admin}/v1/config`, { headers: { authorization: 'Bearer bench' } })).json() as { workers: Array<{ pid: number }> }
    return [child.pid, ...b.workers.map(w => w.pid)]
  }
  return {
    name: 'isthmus', child, port, pids,
    heap: async () => heapAfterGc(await pids(), tmp),
    lag: async () => {
      const m = await metrics()
      return { p99: sum(m, 'isthmus_nodejs_eventloop_lag_p99_seconds') * 1000, max: sum(m, 'isthmus_nodejs_eventloop_lag_max_seconds') * 1000 }
    },
  }
}

async function bare (kind: Kind, tls: ReturnType<typeof certs> | null): Promise<Server> {
  const port = await freePort()
  const args = [kind, String(port)]
  if (kind === 'bolt-tls' && tls !== null) args.push(tls.server.cert, tls.server.key, tls.ca)
  const child = startChild(`bare-${kind}`, process.execPath, ['--expose-gc', '--import', 'tsx', join(root, 'bench/bare-idle-server.ts'), ...args], root)
  await waitForPort(child, port, 60000)
  const ask = (): Promise<{ heap: number }> => new Promise((resolve) => {
    const on = (d: Buffer): void => { const m = /HEAP (\d+)/.exec(d.toString()); if (m !== null) { child.proc.stdout!.off('data', on); resolve({ heap: Number(m[1]) }) } }
    child.proc.stdout!.on('data', on)
    child.proc.kill('SIGUSR2')
  })
  return { name: 'bare', child, port, pids: async () => [child.pid], heap: async () => (await ask()).heap, lag: async () => ({ p99: NaN, max: NaN }) }
}

/** Open `n` idle connections of `kind` from CLIENTS processes; resolves when all are open. */
/** Dials that failed in the last openClients (reported: a per-connection figure over fewer connections would be wrong). */
let failedDials = 0
async function openClients (kind: Kind, port: number, n: number, tls: ReturnType<typeof certs> | null): Promise<Child[]> {
  failedDials = 0
  const per = Math.ceil(n / CLIENTS)
  const kids: Child[] = []
  const ready: Array<Promise<void>> = []
  for (let i = 0; i < CLIENTS; i++) {
    const args = [kind, String(port), String(per), `127.0.${1 + i}.1`]
    if (kind === 'bolt-tls' && tls !== null) args.push(tls.client.cert, tls.client.key, tls.ca)
    const c = startChild(`clients-${i}`, process.execPath, ['--import', 'tsx', join(root, 'bench/idle-clients.ts'), ...args], root)
    kids.push(c)
    ready.push(new Promise((resolve, reject) => {
      c.proc.stdout!.on('data', (d: Buffer) => { const m = /OPEN \d+ failed (\d+)/.exec(d.toString()); if (m !== null) { failedDials += Number(m[1]); resolve() } })
      c.proc.on('exit', (code) => reject(new Error(`clients exited ${code}: ${c.tail.join(' | ')}`)))
    }))
  }
  await Promise.all(ready)
  return kids
}

async function measure (kind: Kind, s: Server, tls: ReturnType<typeof certs> | null): Promise<Record<string, number>> {
  await sleep(1000)
  const pids = await s.pids()
  const rss0 = rssOf(pids)
  const heap0 = await s.heap()
  const kids = await openClients(kind, s.port, CONNS, tls)
  await sleep(3000)
  const rss1 = rssOf(await s.pids())
  const heap1 = await s.heap()
  const conns = CLIENTS * Math.ceil(CONNS / CLIENTS) - failedDials
  const out: Record<string, number> = { conns, failedDials, rssPerConn: (rss1 - rss0) / conns, heapPerConn: (heap1 - heap0) / conns }
  // Idle CPU of both servers (the bare one is the floor: what node's own TLS/h2 sessions cost idle).
  const p = await s.pids()
  await sleep(SETTLE_MS) // past the GC of the heap figure (and its concurrent sweeping), then reset the delay monitor
  await s.lag()
  // Per second as well: V8's memory reducer runs a pair of full GCs once, some seconds to a
  // minute after a burst (the connections, the heap figure's forced GC), ~0.4 s of CPU with
  // 15,000 sessions. The mean over a short window catches it or not; the median is the idle cost.
  const cpu = (): number => { let c = 0; for (const x of p) c += cpuMicros(x); return c }
  const c0 = cpu()
  const steps: number[] = []
  let prev = runNanos(p)
  for (let t = 0; t + 1000 <= IDLE_MS; t += 1000) {
    await sleep(1000)
    const c = runNanos(p)
    steps.push((c - prev) / 1e7)
    prev = c
  }
  if (IDLE_MS % 1000 !== 0) await sleep(IDLE_MS % 1000)
  out.idleCpuPercentOfCore = (cpu() - c0) / (IDLE_MS * 10)
  steps.sort((a, b) => a - b)
  out.idleCpuMedianPercentOfCore = steps.length === 0 ? NaN : steps[Math.floor(steps.length / 2)]
  if (s.name === 'isthmus') {
    const lag = await s.lag()
    out.eventLoopLagP99Ms = lag.p99
    out.eventLoopLagMaxMs = lag.max
  }
  for (const k of kids) await stopChild(k, 1000)
  return out
}

/** The per-connection difference between the two snapshots each process wrote (SNAPSHOT=1). */
function snapshotDiff (kind: Kind, server: string, pids: number[], conns: number): void {
  const lines: string[] = [`${kind} ${server}: per connection (${conns}), heap snapshot after minus before, by node type and constructor`, 'objects/conn | bytes/conn | type constructor']
  let total = 0
  for (const p of pids) {
    // SNAPSHOT_DIR: keep the snapshots (for a look at retainers in DevTools or a script).
    const keep = process.env.SNAPSHOT_DIR
    if (keep !== undefined) for (const i of [0, 1]) copyFileSync(join(tmp, `snap-${p}-${i}.heapsnapshot`), join(keep, `${kind}-${server}-${i}.heapsnapshot`))
    const rows = diff(groups(join(tmp, `snap-${p}-0.heapsnapshot`)), groups(join(tmp, `snap-${p}-1.heapsnapshot`)), conns, 0.5)
    for (const r of rows) { total += r.bytes; lines.push(`${r.count.toFixed(2).padStart(12)} | ${r.bytes.toFixed(1).padStart(10)} | ${r.key}`) }
  }
  lines.push(`total (rows shown): ${total.toFixed(0)} B/conn`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, `bench/results/conn-heap-snap-${kind}-${server}.txt`), lines.join('\n') + '\n')
  process.stderr.write(lines.slice(0, 40).join('\n') + '\n')
}

async function main (): Promise<void> {
  const tls = KINDS.includes('bolt-tls') ? certs() : null
  const results: Record<string, Record<string, Record<string, number>>> = {}
  try {
    for (const kind of KINDS) {
      results[kind] = {}
      for (const make of SKIP_BARE ? [gateway] : [bare, gateway]) {
        const s = await make(kind, tls)
        try {
          results[kind][s.name] = await measure(kind, s, tls)
          if (SNAPSHOT) snapshotDiff(kind, s.name, await s.pids(), results[kind][s.name].conns)
        } finally { await stopChild(s.child) }
        process.stderr.write(`${kind} ${s.name}: ${JSON.stringify(results[kind][s.name])}\n`)
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  console.log('kind     | server  | RSS B/conn | heap B/conn | ratio RSS | ratio heap | idle CPU % mean / median of 1 s | loop p99 / max ms')
  for (const [kind, r] of Object.entries(results)) {
    const b = r.bare ?? { rssPerConn: NaN, heapPerConn: NaN }
    for (const [name, x] of Object.entries(r)) {
      console.log(`${kind.padEnd(8)} | ${name.padEnd(7)} | ${x.rssPerConn.toFixed(0)} | ${x.heapPerConn.toFixed(0)} | ${(x.rssPerConn / b.rssPerConn).toFixed(2)} | ${(x.heapPerConn / b.heapPerConn).toFixed(2)} | ${x.idleCpuPercentOfCore?.toFixed(2) ?? '-'} / ${x.idleCpuMedianPercentOfCore?.toFixed(2) ?? '-'} | ${x.eventLoopLagP99Ms?.toFixed(1) ?? '-'} / ${x.eventLoopLagMaxMs?.toFixed(1) ?? '-'}`)
    }
  }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, `bench/results/connections-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ node: process.version, conns: CONNS, clients: CLIENTS, workers: WORKERS, loadavg: os.loadavg(), results }, null, 2))
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
