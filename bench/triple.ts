/**
 * `npm run bench:triple`: HTTP/2 unary gRPC, 100-byte request and response, through each
 * target in turn (A B C ... A B C ..., the order rotated each round), medians over rounds
 * (PERF.md). Targets: direct to the upstream, the bare node:http2 pass-through (bench/
 * bare-passthrough.ts), Isthmus with an empty chain, Isthmus with the example chain, and nginx
 * grpc_pass when installed, Isthmus with the mirror filter copying 10% of calls to a second cluster
 * (isthmus-mirror; same upstream process), Isthmus with the governance chain (ldc + stress + rate-limit
 * with a non-binding limit; README "Benchmarks"), Isthmus empty chain + the audit filter writing
 * its trail to files (isthmus-audit-file) and also enqueuing it to BullMQ in a redis-server the
 * bench starts (isthmus-audit-queue; nothing consumes the queue during the run:
 * bench/audit-exporter.ts checks the exporter keeps up). Every proxy is a child process; its CPU
 * per request comes from /proc/<pid>/stat deltas around each h2load run (all threads; "main" is
 * the event-loop thread).
 *
 * Options: --rounds N (5), --requests N (60000), --rate-rounds N (3), --quick, --adaptive (add
 *   the governance chain with adaptive shedding on, thresholds never reached),
 *   --semi (add Isthmus empty chain with --max-semi-space-size=32), --dist (run dist/ build),
 *   --no-audit (skip the audit targets), --trace (add Isthmus with the `trace` filter and no OTel
 *   SDK (isthmus-trace-nosdk: must cost nothing), and with an SDK preloaded by `node --import
 *   bench/lib/otel-sdk.mjs` exporting to a discarding exporter (isthmus-trace-sdk)),
 *   --only a,b (target names), --no-write.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as grpc from '@grpc/grpc-js'
import YAML from 'yaml'
import { endStreamCheck, grpcCall, type CheckResult } from './lib/checks.js'
import { h2loadArgv, runH2load, type H2loadArgs, type H2loadResult } from './lib/h2load.js'
import { nginxVersion, startNginx } from './lib/nginx.js'
import { cpuMicros, freePort, median, startChild, stopChild, threadCpuMicros, waitForPort, type Child, medianOf, medianRoundRatio } from './lib/proc.js'
import { grpcFrame } from './h2-upstream.js'
import { governanceFilters } from './lib/governance.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '60000' },
    'rate-rounds': { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    semi: { type: 'boolean', default: false },
    adaptive: { type: 'boolean', default: false },
    dist: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'no-audit': { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
  },
})
const ROUNDS = opt.quick ? 2 : Number(opt.rounds)
const REQUESTS = opt.quick ? 20000 : Number(opt.requests)
const RATE_ROUNDS = opt.quick ? 1 : Number(opt['rate-rounds'])
const CLIENTS = 16
const STREAMS = 10
/** Fixed-rate run: CLIENTS x RATE_PER_CLIENT req/s, well under any target's capacity here. */
const RATE_PER_CLIENT = 200
const RATE_REQUESTS = opt.quick ? 6400 : 12800
const WARMUP = opt.quick ? 5000 : 10000
const PATH = '/isthmus.example.Greeter/SayHello'
// Every target gets the LDC uid header (only the governance chain reads it).
const HEADERS = ['content-type: application/grpc', 'te: trailers', 'x-ldc-uid: 2088000012345']

interface Target {
  name: string
  /** What it is, for the table's notes. */
  what: string
  port: number
  child: Child | null
  /** Extra gRPC checks (e.g. the deny filter answering). */
  checks: Array<() => Promise<CheckResult>>
}

interface Sample extends H2loadResult {
  round: number
  proxyCpuUsPerReq: number | null
  /** The proxy's main (event-loop) thread only. */
  proxyMainCpuUsPerReq: number | null
  upstreamCpuUsPerReq: number
}

const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-bench-'))
const children: Child[] = []
const log = (s: string): void => { process.stderr.write(s + '\n') }

function nodeChild (name: string, args: string[], nodeFlags: string[] = []): Child {
  // Spawn node itself (not the tsx binary, which forks): the pid is the process doing the work.
  const c = startChild(name, process.execPath, [...nodeFlags, '--import', 'tsx', ...args], root)
  children.push(c)
  return c
}

type Chain = 'empty' | 'example' | 'governance' | 'governance-adaptive' | 'trace' | 'mirror'
type AuditMode = { mode: 'off' } | { mode: 'file' } | { mode: 'queue', redisPort: number }

function isthmusConfig (port: number, upstreamPort: number, chain: Chain, audit: AuditMode = { mode: 'off' }): string {
  const example = YAML.parse(readFileSync(join(root, 'examples', 'isthmus.example.yaml'), 'utf8')) as {
    clusters: Array<{ name: string, lb?: unknown }>
    routes: Array<{ name: string, timeoutMs?: number, match: unknown }>
    filters: unknown[]
  }
  const cluster = example.clusters.find(c => c.name === 'greeter')!
  const route = example.routes.find(r => r.name === 'greeter')!
  const governance = chain === 'governance' || chain === 'governance-adaptive'
  const cfg = {
    entity: 'bench',
    listeners: {
      triple: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: 0, token: 'bench-admin-token' },
    },
    clusters: [
      { name: 'greeter', protocol: 'triple', lb: cluster.lb, hosts: [{ address: '127.0.0.1', port: upstreamPort, zone: 'RZ00' }] },
      // The mirror target: the same upstream process through its own cluster (its own sessions).
      ...(chain === 'mirror' ? [{ name: 'greeter-mirror', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: upstreamPort }] }] : []),
    ],
    routes: [{ name: 'greeter', match: route.match, cluster: 'greeter', timeoutMs: route.timeoutMs }],
    filters: chain === 'example' ? example.filters : chain === 'trace' ? [{ name: 'trace' }] : chain === 'mirror' ? [{ name: 'mirror', config: { routes: [{ route: 'greeter', targets: [{ cluster: 'greeter-mirror', fraction: 0.1 }] }] } }] : [],
    ...(governance ? governanceFilters('isthmus.example.Greeter', chain === 'governance-adaptive') : {}),
    // Access log off: the bench measures the data plane, not stdout.
    log: { level: 'warn', access: 'off' },
    drain: { timeoutMs: 1000 },
    ...(audit.mode === 'off' ? {} : { audit: { enabled: true, dir: join(tmp, `audit-${port}`), queue: audit.mode === 'queue' } }),
    ...(audit.mode === 'queue' ? { redis: { url: `redis://127.0.0.1:${audit.redisPort}`, keyPrefix: `bench-${port}:` } } : {}),
  }
  const file = join(tmp, `isthmus-${chain}-${audit.mode}-${port}.yaml`)
  writeFileSync(file, YAML.stringify(cfg))
  return file
}

function isthmusArgs (config: string): string[] {
  return opt.dist ? [join(root, 'dist', 'bin', 'isthmus.js'), 'start', '-c', config] : ['bin/isthmus.ts', 'start', '-c', config]
}

async function setup (): Promise<{ upstream: Child, upstreamPort: number, targets: Target[], bodyFile: string }> {
  const bodyFile = join(tmp, 'body.bin')
  writeFileSync(bodyFile, grpcFrame(95))
  writeFileSync(join(tmp, 'body.json'), JSON.stringify(['world']))
  const upstreamPort = await freePort()
  const upstream = nodeChild('upstream', ['bench/h2-upstream.ts', String(upstreamPort)])
  await waitForPort(upstream, upstreamPort)

  const denied = (port: number) => () => grpcCall(port, '/isthmus.example.Greeter/InternalStats', grpcFrame(95), grpc.status.PERMISSION_DENIED, 0)
  const want = opt.only === undefined ? null : new Set(opt.only.split(','))
  const targets: Target[] = []
  const add = async (name: string, what: string, start: (port: number) => Child | null, checks: Target['checks'] = [], port?: number): Promise<void> => {
    if (want !== null && !want.has(name) && name !== 'direct') return
    const p = port ?? await freePort()
    const child = start(p)
    if (child !== null) await waitForPort(child, p)
    targets.push({ name, what, port: p, child, checks })
  }
  await add('direct', 'node:http2 upstream, no proxy', () => null, [], upstreamPort)
  await add('bare', 'bench/bare-passthrough.ts (node:http2, one pooled session, manual forwarding)',
    (p) => nodeChild('bare', ['bench/bare-passthrough.ts', String(p), String(upstreamPort)]))
  await add('isthmus-empty', 'Isthmus, no filters, one route',
    (p) => nodeChild('isthmus-empty', isthmusArgs(isthmusConfig(p, upstreamPort, 'empty'))))
  if (opt.semi) {
    await add('isthmus-empty-semi32', 'Isthmus, no filters, node --max-semi-space-size=32',
      (p) => nodeChild('isthmus-empty-semi32', isthmusArgs(isthmusConfig(p, upstreamPort, 'empty')), ['--max-semi-space-size=32']))
  }
  await add('isthmus-chain', 'Isthmus, example chain (headers + deny), one route',
    (p) => nodeChild('isthmus-chain', isthmusArgs(isthmusConfig(p, upstreamPort, 'example'))), [])
  await add('isthmus-mirror', 'Isthmus, no filters but mirror: 10% of calls copied to a second cluster (same upstream process)',
    (p) => nodeChild('isthmus-mirror', isthmusArgs(isthmusConfig(p, upstreamPort, 'mirror'))))
  await add('isthmus-governance', 'Isthmus, governance chain (ldc + stress + rate-limit, non-binding rule), one route',
    (p) => nodeChild('isthmus-governance', isthmusArgs(isthmusConfig(p, upstreamPort, 'governance'))))
  if (opt.adaptive) {
    await add('isthmus-governance-adaptive', 'Isthmus, governance chain with adaptive shedding (never triggered)',
      (p) => nodeChild('isthmus-governance-adaptive', isthmusArgs(isthmusConfig(p, upstreamPort, 'governance-adaptive'))))
  }
  if (opt.trace) {
    await add('isthmus-trace-nosdk', 'Isthmus, trace filter only, no OTel SDK registered',
      (p) => nodeChild('isthmus-trace-nosdk', isthmusArgs(isthmusConfig(p, upstreamPort, 'trace'))))
    await add('isthmus-trace-sdk', 'Isthmus, trace filter only, OTel SDK (batch processor, discarding exporter)',
      (p) => nodeChild('isthmus-trace-sdk', isthmusArgs(isthmusConfig(p, upstreamPort, 'trace')), ['--import', join(root, 'bench', 'lib', 'otel-sdk.mjs')]))
  }
  if (!opt['no-audit']) {
    await add('isthmus-audit-file', 'Isthmus, no filters but audit (trail to local files)',
      (p) => nodeChild('isthmus-audit-file', isthmusArgs(isthmusConfig(p, upstreamPort, 'empty', { mode: 'file' }))))
    if (redisAvailable()) {
      const redisPort = await freePort()
      const redis = startChild('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], tmp)
      children.push(redis)
      await waitForPort(redis, redisPort)
      await add('isthmus-audit-queue', 'Isthmus, no filters but audit (files + BullMQ queue)',
        (p) => nodeChild('isthmus-audit-queue', isthmusArgs(isthmusConfig(p, upstreamPort, 'empty', { mode: 'queue', redisPort }))))
    } else {
      log('redis-server not installed: skipping isthmus-audit-queue')
    }
  }
  const chain = targets.find(t => t.name === 'isthmus-chain')
  if (chain !== undefined) chain.checks.push(denied(chain.port))
  if (nginxVersion() !== null) {
    await add('nginx', 'nginx grpc_pass, 1 process, upstream keepalive 512', (p) => {
      const prefix = join(tmp, 'nginx')
      const c = startNginx(prefix, p, upstreamPort)
      children.push(c)
      return c
    })
  } else {
    log('nginx not installed: skipping the nginx target')
  }
  return { upstream, upstreamPort, targets, bodyFile }
}

async function check (t: Target, bodyFile: string): Promise<CheckResult[]> {
  const results = [
    await grpcCall(t.port, PATH, grpcFrame(95), grpc.status.OK, 95),
    await endStreamCheck(t.port, '/isthmus.example.Greeter/NoTrailers', join(dirname(bodyFile), 'body.json')),
  ]
  for (const c of t.checks) results.push(await c())
  return results
}

async function measure (t: Target, upstream: Child, base: Omit<H2loadArgs, 'url'>, round: number): Promise<Sample> {
  const pid = t.child?.pid
  const c0 = pid !== undefined ? cpuMicros(pid) : 0
  const m0 = pid !== undefined ? threadCpuMicros(pid, pid) : 0
  const u0 = cpuMicros(upstream.pid)
  const r = await runH2load({ ...base, url: `http://127.0.0.1:${t.port}${PATH}` })
  const u1 = cpuMicros(upstream.pid)
  const c1 = pid !== undefined ? cpuMicros(pid) : 0
  const m1 = pid !== undefined ? threadCpuMicros(pid, pid) : 0
  const n = r.succeeded
  if (r.failed + r.errored + r.timeout > 0 || r.status2xx !== base.requests) {
    log(`  ${t.name}: ${r.failed} failed, ${r.errored} errored, ${r.timeout} timeout, ${r.status2xx} 2xx of ${base.requests}`)
  }
  return { ...r, round, proxyCpuUsPerReq: pid !== undefined ? (c1 - c0) / n : null, proxyMainCpuUsPerReq: pid !== undefined ? (m1 - m0) / n : null, upstreamCpuUsPerReq: (u1 - u0) / n }
}

function redisAvailable (): boolean {
  try { execFileSync('redis-server', ['--version'], { stdio: 'ignore' }); return true } catch { return false }
}

function rotate<T> (xs: readonly T[], k: number): T[] {
  const i = k % xs.length
  return [...xs.slice(i), ...xs.slice(0, i)]
}

const fmt = (x: number | null, d = 0): string => x === null || Number.isNaN(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })

async function main (): Promise<void> {
  const started = new Date()
  const load0 = os.loadavg()
  const { upstream, targets, bodyFile } = await setup()
  const sat: Omit<H2loadArgs, 'url'> = { bodyFile, requests: REQUESTS, clients: CLIENTS, streams: STREAMS, rps: 0, headers: HEADERS, tmpDir: tmp }
  const fixed: Omit<H2loadArgs, 'url'> = { ...sat, requests: RATE_REQUESTS, rps: RATE_PER_CLIENT }

  log(`checks (grpc-js unary call, END_STREAM without trailers${targets.some(t => t.checks.length > 0) ? ', deny filter' : ''}):`)
  const checks: Record<string, CheckResult[]> = {}
  for (const t of targets) {
    checks[t.name] = await check(t, bodyFile)
    for (const c of checks[t.name]) log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${t.name.padEnd(22)} ${c.detail}`)
  }

  log(`warm-up: ${WARMUP} requests per target`)
  for (const t of targets) await runH2load({ ...sat, requests: WARMUP, url: `http://127.0.0.1:${t.port}${PATH}` })

  const samples: Record<string, Sample[]> = Object.fromEntries(targets.map(t => [t.name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of rotate(targets, round)) {
      const s = await measure(t, upstream, sat, round)
      samples[t.name].push(s)
      log(`round ${round + 1}/${ROUNDS} ${t.name.padEnd(22)} ${fmt(s.reqPerSec).padStart(7)} req/s  proxy ${fmt(s.proxyCpuUsPerReq, 1).padStart(6)} µs/req  p50 ${fmt(s.p50, 2)} ms  p99 ${fmt(s.p99, 2)} ms`)
    }
  }
  const rate: Record<string, Sample[]> = Object.fromEntries(targets.map(t => [t.name, []]))
  for (let round = 0; round < RATE_ROUNDS; round++) {
    for (const t of rotate(targets, round)) {
      const s = await measure(t, upstream, fixed, round)
      rate[t.name].push(s)
      log(`fixed rate ${round + 1}/${RATE_ROUNDS} ${t.name.padEnd(22)} ${fmt(s.reqPerSec).padStart(6)} req/s  p50 ${fmt(s.p50, 3)} ms  p99 ${fmt(s.p99, 3)} ms  proxy ${fmt(s.proxyCpuUsPerReq, 1)} µs/req`)
    }
  }

  // Ratios are taken per round (same conditions), then the median.
  const perRound = (name: string, ref: string, f: (s: Sample) => number | null): number => medianRoundRatio(samples[name], samples[ref], f)
  const med = medianOf
  const directRate = rate.direct ?? []
  const rows = targets.map(t => {
    const s = samples[t.name]; const r = rate[t.name]
    return {
      target: t.name,
      what: t.what,
      reqPerSec: med(s, x => x.reqPerSec),
      ratioToDirect: perRound(t.name, 'direct', x => x.reqPerSec),
      proxyCpuUsPerReq: t.child === null ? null : med(s, x => x.proxyCpuUsPerReq),
      // The least contended round: on a shared machine the minimum is the steadiest estimate.
      proxyCpuUsPerReqMin: t.child === null ? null : Math.min(...s.map(x => x.proxyCpuUsPerReq ?? Infinity)),
      cpuRatioToBare: t.child === null ? null : perRound(t.name, 'bare', x => x.proxyCpuUsPerReq),
      proxyMainCpuUsPerReq: t.child === null ? null : med(s, x => x.proxyMainCpuUsPerReq),
      upstreamCpuUsPerReq: med(s, x => x.upstreamCpuUsPerReq),
      p50Ms: med(s, x => x.p50),
      p99Ms: med(s, x => x.p99),
      fixedRate: {
        reqPerSec: med(r, x => x.reqPerSec),
        p50Ms: med(r, x => x.p50),
        p99Ms: med(r, x => x.p99),
        addedP50Ms: med(r, x => x.p50) - med(directRate, x => x.p50),
        addedP99Ms: med(r, x => x.p99) - med(directRate, x => x.p99),
        proxyCpuUsPerReq: t.child === null ? null : med(r, x => x.proxyCpuUsPerReq),
      },
      checks: checks[t.name],
      samples: s,
      fixedRateSamples: r,
    }
  })

  const h2loadVersion = execFileSync('h2load', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim()
  const commit = (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim() } catch { return null } })()
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    node: process.version,
    h2load: h2loadVersion,
    nginx: nginxVersion(),
    loadavgStart: load0.map(x => Math.round(x * 100) / 100),
    loadavgEnd: os.loadavg().map(x => Math.round(x * 100) / 100),
  }
  // Printable: the body file by its role, headers quoted for a shell.
  const shown = (a: Omit<H2loadArgs, 'url'>): string => 'h2load ' + h2loadArgv({ ...a, bodyFile: '<100-byte gRPC frame>', url: `http://127.0.0.1:<port>${PATH}` }, '<log>')
    .map(x => x.includes(' ') ? `'${x}'` : x).join(' ')
  const args = {
    saturating: shown(sat),
    fixedRate: shown(fixed),
    rounds: ROUNDS,
    fixedRateRounds: RATE_ROUNDS,
    warmupRequests: WARMUP,
    isthmusRuns: opt.dist ? 'dist/gateway/cli.js (tsc build)' : 'node --import tsx gateway/cli.ts',
  }

  const table = markdownTable(rows)
  process.stdout.write('\n' + table + '\n')
  const empty = rows.find(r => r.target === 'isthmus-empty')
  const chainRow = rows.find(r => r.target === 'isthmus-chain')
  const ng = rows.find(r => r.target === 'nginx')
  const verdicts: string[] = []
  const bareRow = rows.find(r => r.target === 'bare')
  if (empty?.cpuRatioToBare != null && bareRow?.proxyCpuUsPerReq != null) {
    const ofMedians = empty.proxyCpuUsPerReq! / bareRow.proxyCpuUsPerReq
    const ofMins = empty.proxyCpuUsPerReqMin! / bareRow.proxyCpuUsPerReqMin!
    verdicts.push(`Isthmus empty chain CPU/request vs the bare pass-through (target <= 1.10): ${fmt(empty.cpuRatioToBare, 2)}x (median of per-round ratios), ${fmt(ofMedians, 2)}x (ratio of medians), ${fmt(ofMins, 2)}x (ratio of minimums): ${empty.cpuRatioToBare <= 1.1 ? 'met' : 'MISSED'}`)
  }
  for (const g of ['isthmus-governance', 'isthmus-governance-adaptive']) {
    const row = rows.find(r => r.target === g)
    if (row === undefined || empty === undefined) continue
    const perRoundRatio = perRound(g, 'isthmus-empty', x => x.proxyCpuUsPerReq)
    verdicts.push(`${g} CPU/request vs the empty chain (target <= 1.10): ${fmt(perRoundRatio, 3)}x (median of per-round ratios), ${fmt(row.proxyCpuUsPerReq! / empty.proxyCpuUsPerReq!, 3)}x (ratio of medians), +${fmt(row.proxyCpuUsPerReq! - empty.proxyCpuUsPerReq!, 1)} µs/req: ${perRoundRatio <= 1.1 ? 'met' : 'MISSED'}`)
  }
  for (const name of ['isthmus-trace-nosdk', 'isthmus-trace-sdk']) {
    const row = rows.find(r => r.target === name)
    if (row === undefined || empty === undefined) continue
    verdicts.push(`${name} CPU/request vs isthmus-empty: ${fmt(perRound(name, 'isthmus-empty', x => x.proxyCpuUsPerReq), 3)}x (median of per-round ratios; ${fmt(row.proxyCpuUsPerReq, 1)} vs ${fmt(empty.proxyCpuUsPerReq, 1)} µs/req)`)
  }
  for (const name of ['isthmus-audit-file', 'isthmus-audit-queue']) {
    const row = rows.find(r => r.target === name)
    if (row === undefined || empty === undefined) continue
    const all = perRound(name, 'isthmus-empty', x => x.proxyCpuUsPerReq)
    const main = perRound(name, 'isthmus-empty', x => x.proxyMainCpuUsPerReq)
    verdicts.push(`${name} CPU/request vs isthmus-empty (target <= 1.10): ${fmt(all, 2)}x all threads, ${fmt(main, 2)}x main thread (medians of per-round ratios; ${fmt(row.proxyCpuUsPerReq, 1)} vs ${fmt(empty.proxyCpuUsPerReq, 1)} µs/req): ${all <= 1.1 ? 'met' : 'MISSED'}`)
  }
  const mirrorRow = rows.find(r => r.target === 'isthmus-mirror')
  if (mirrorRow !== undefined && empty !== undefined) {
    const all = perRound('isthmus-mirror', 'isthmus-empty', x => x.proxyCpuUsPerReq)
    // 10% of calls make a second upstream call: the copy's own forwarding is part of the cost.
    verdicts.push(`isthmus-mirror (10%) CPU/request vs isthmus-empty: ${fmt(all, 2)}x (median of per-round ratios; ${fmt(mirrorRow.proxyCpuUsPerReq, 1)} vs ${fmt(empty.proxyCpuUsPerReq, 1)} µs/req)`)
  }
  if (chainRow !== undefined && ng !== undefined) verdicts.push(`Isthmus example chain throughput = ${fmt(perRound('isthmus-chain', 'nginx', x => x.reqPerSec), 2)}x nginx grpc_pass in the same run (goal: 1.00)`)
  for (const v of verdicts) process.stdout.write(v + '\n')
  const failed = rows.flatMap(r => r.checks.filter(c => !c.ok).map(c => `${r.target}: ${c.detail}`))
  if (failed.length > 0) process.stdout.write(`CHECKS FAILED:\n  ${failed.join('\n  ')}\n`)

  if (!opt['no-write']) {
    const dir = join(root, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    const stamp = started.toISOString().slice(0, 19).replace(/:/g, '-')
    const json = join(dir, `triple-${stamp}.json`)
    writeFileSync(json, JSON.stringify({ bench: 'triple', date: started.toISOString(), commit, machine, args, verdicts, rows }, null, 2) + '\n')
    const md = `<!-- written by npm run bench:triple; ${started.toISOString()}${commit !== null ? `, commit ${commit}` : ''} -->
HTTP/2 unary gRPC, 100-byte request and response, loopback, ${machine.cpus} vCPU (${machine.cpuModel}), Node ${machine.node}, ${machine.h2load}${machine.nginx !== null ? `, nginx ${machine.nginx}` : ''}.
Saturating: \`${args.saturating}\`, ${ROUNDS} alternated rounds, medians (ratios per round, then the median).
Fixed rate: \`${args.fixedRate}\` (${CLIENTS * RATE_PER_CLIENT} req/s), ${RATE_ROUNDS} rounds; "added" is over direct.
Isthmus (${args.isthmusRuns}): the example config's greeter route and cluster (least-request, default upstream settings) pointed at the bench upstream, access log off; isthmus-chain adds the example's filters (headers set + deny rule); isthmus-governance runs ldc + stress + rate-limit (a never-binding QPS and concurrency rule) instead.
Proxy CPU = the proxy process's user+system time / requests. Load average at start ${machine.loadavgStart.join(' ')} (the machine is shared: compare ratios, not absolutes).

${table}
${verdicts.map(v => `- ${v}`).join('\n')}
`
    writeFileSync(join(dir, 'triple-latest.md'), md)
    log(`wrote ${json} and bench/results/triple-latest.md`)
  }
}

function markdownTable (rows: Array<{ target: string, reqPerSec: number, ratioToDirect: number, proxyCpuUsPerReq: number | null, proxyCpuUsPerReqMin: number | null, cpuRatioToBare: number | null, upstreamCpuUsPerReq: number, p50Ms: number, p99Ms: number, fixedRate: { p50Ms: number, p99Ms: number, addedP50Ms: number, addedP99Ms: number }, checks: CheckResult[] }>): string {
  const head = '| target | req/s | ratio to direct | proxy CPU µs/req (median / min) | CPU vs bare | upstream CPU µs/req | p50 ms | p99 ms | fixed-rate p50 / p99 ms | added p50 / p99 ms | checks |'
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|'
  const lines = rows.map(r => `| ${r.target} | ${fmt(r.reqPerSec)} | ${fmt(r.ratioToDirect, 2)} | ${r.proxyCpuUsPerReq === null ? '–' : `${fmt(r.proxyCpuUsPerReq, 1)} / ${fmt(r.proxyCpuUsPerReqMin, 1)}`} | ${r.cpuRatioToBare === null ? '–' : fmt(r.cpuRatioToBare, 2)} | ${fmt(r.upstreamCpuUsPerReq, 1)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.fixedRate.p50Ms, 3)} / ${fmt(r.fixedRate.p99Ms, 3)} | ${r.target === 'direct' ? '–' : `${fmt(r.fixedRate.addedP50Ms, 3)} / ${fmt(r.fixedRate.addedP99Ms, 3)}`} | ${r.checks.every(c => c.ok) ? 'ok' : 'FAIL'} |`)
  return [head, sep, ...lines].join('\n')
}

try {
  await main()
} finally {
  for (const c of children.reverse()) await stopChild(c)
  rmSync(tmp, { recursive: true, force: true })
}
