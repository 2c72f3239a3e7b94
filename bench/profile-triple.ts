/**
 * `npm run bench:profile-triple`: where the gateway's time goes on the Triple path. Runs the
 * compiled gateway process (default config apart from listeners, the example's greeter cluster
 * and route) under `node --cpu-prof --trace-gc`, saturates it with h2load (100-byte gRPC unary,
 * -c 16 -m 10, as bench:triple), stops it (SIGTERM: the profile is written on exit) and prints
 * the main thread's self time per category over the loaded window, scaled to µs per request by
 * the main thread's CPU time from /proc, the heaviest functions and the GC pauses.
 * Env: PROFILE_REQUESTS (30000), PROFILE_CHAINS (empty,example), PROFILE_INTERVAL_US (500),
 * PROFILE_LABEL. Writes bench/results/profile-triple-<time>[-label].md and .json.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { grpcFrame } from './h2-upstream.js'
import { GcTrace, type GcCounts } from './lib/gc-trace.js'
import { runH2load, type H2loadArgs } from './lib/h2load.js'
import { breakdownBy, CATEGORIES, CATEGORY_NOTES, ownCategory, type BreakdownOf, type Category, type CpuProfile } from './lib/profile-categories.js'
import { cpuMicros, freePort, startChild, stopChild, threadCpuMicros, waitForPort, type Child } from './lib/proc.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const REQUESTS = Number(process.env.PROFILE_REQUESTS ?? 30000)
const INTERVAL = Number(process.env.PROFILE_INTERVAL_US ?? 500)
const LABEL = process.env.PROFILE_LABEL ?? ''
const CHAINS = (process.env.PROFILE_CHAINS ?? 'empty,example').split(',').map(s => s.trim())
const PATH = '/isthmus.example.Greeter/SayHello'
const HEADERS = ['content-type: application/grpc', 'te: trailers']
const tmp = mkdtempSync(join(tmpdir(), 'isthmus-profile-triple-'))
const children: Child[] = []
process.on('exit', () => { for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL') })

/** The Bolt categories (the gateway's folders, Node's socket paths) plus the HTTP/2 engine's. */
type TripleCategory = Category | 'http2 (node)' | 'grpc framing'
const TRIPLE_CATEGORIES: readonly TripleCategory[] = [...CATEGORIES.filter(c => c !== 'decode' && c !== 'encode'), 'http2 (node)', 'grpc framing']
const TRIPLE_NOTES: Partial<Record<TripleCategory, string>> = {
  'http2 (node)': "node:internal/http2/* (Http2Session/Http2Stream, headers, respond, trailers) and the native nghttp2 work it calls",
  'grpc framing': 'gateway/protocol/triple/*: gRPC message framing, status and header mapping',
}

function ownTriple (functionName: string, url: string): TripleCategory | null {
  if (url.startsWith('node:internal/http2/') || url === 'node:http2') return 'http2 (node)'
  if (url.includes('/gateway/protocol/triple/')) return 'grpc framing'
  return ownCategory(functionName, url)
}

/** Monotonic clock in µs: the clock V8's profile timestamps use on Linux. */
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)

function gatewayConfig (port: number, upstreamPort: number, chain: string): string {
  const example = YAML.parse(readFileSync(join(root, 'examples', 'isthmus.example.yaml'), 'utf8')) as {
    clusters: Array<{ name: string, lb?: unknown }>, routes: Array<{ name: string, timeoutMs?: number, match: unknown }>, filters: unknown[]
  }
  const cluster = example.clusters.find(c => c.name === 'greeter')!
  const route = example.routes.find(r => r.name === 'greeter')!
  if (chain !== 'empty' && chain !== 'example') throw new Error(`PROFILE_CHAINS: unknown chain ${chain} (empty, example)`)
  const cfg = {
    entity: 'bench',
    listeners: { triple: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: 0, token: 'bench-admin-token' } },
    clusters: [{ name: 'greeter', protocol: 'triple', lb: cluster.lb, hosts: [{ address: '127.0.0.1', port: upstreamPort, zone: 'RZ00' }] }],
    routes: [{ name: 'greeter', match: route.match, cluster: 'greeter', timeoutMs: route.timeoutMs }],
    filters: chain === 'example' ? example.filters : [],
    log: { level: 'warn', access: 'off' },
  }
  const file = join(tmp, `isthmus-${chain}.yaml`)
  writeFileSync(file, YAML.stringify(cfg))
  return file
}

interface ChainResult { chain: string, requests: number, rps: number, p99Ms: number, cpuUsPerReq: number, mainUsPerReq: number, profile: string, gc: GcCounts, b: BreakdownOf<TripleCategory> }

async function profileChain (chain: string, upstreamPort: number, load: Omit<H2loadArgs, 'url' | 'requests'>): Promise<ChainResult> {
  const profDir = join(tmp, chain)
  mkdirSync(profDir)
  const port = await freePort()
  const g = startChild(`isthmus-${chain}`, process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', String(INTERVAL), '--trace-gc',
    join(root, 'dist', 'bin', 'isthmus.js'), 'start', '-c', gatewayConfig(port, upstreamPort, chain)], root)
  children.push(g)
  const trace = new GcTrace(g)
  await waitForPort(g, port)
  const url = `http://127.0.0.1:${port}${PATH}`
  await runH2load({ ...load, url, requests: Math.max(1000, Math.round(REQUESTS / 6)) }) // warm-up: JIT, pools
  trace.counting = true
  const t0 = nowUs(); const c0 = cpuMicros(g.pid); const m0 = threadCpuMicros(g.pid, g.pid)
  const res = await runH2load({ ...load, url, requests: REQUESTS })
  const t1 = nowUs(); const c1 = cpuMicros(g.pid); const m1 = threadCpuMicros(g.pid, g.pid)
  trace.counting = false
  await stopChild(g, 30000)
  if (res.succeeded !== REQUESTS) throw new Error(`${chain}: ${res.succeeded} of ${REQUESTS} requests succeeded`)
  const file = readdirSync(profDir).find(f => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`${chain}: no .cpuprofile in ${profDir}: ${g.tail.join(' | ')}`)
  const prof = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile
  const b = breakdownBy(prof, ownTriple, TRIPLE_CATEGORIES, 'other', t0, t1)
  if (b.samples === 0) throw new Error(`${chain}: no profile sample inside the load window (clocks do not line up?)`)
  return { chain, requests: REQUESTS, rps: res.reqPerSec, p99Ms: res.p99, cpuUsPerReq: (c1 - c0) / REQUESTS, mainUsPerReq: (m1 - m0) / REQUESTS, profile: join(profDir, file), gc: trace.counts, b }
}

function report (r: ChainResult): string {
  const { b } = r
  const out = [`### Chain: ${r.chain}`, '',
    `${r.requests} requests (${Math.round(r.rps)} req/s under the profiler, p99 ${r.p99Ms.toFixed(2)} ms); gateway CPU ${r.cpuUsPerReq.toFixed(1)} µs/req all threads, ${r.mainUsPerReq.toFixed(1)} µs/req main thread (/proc); ${b.samples} samples, main thread busy ${(b.busyUs / 1000).toFixed(0)} ms of samples, idle ${(b.idleUs / 1000).toFixed(0)} ms.`, '',
    '| category | self ms | share of busy | ≈ µs/req (share × main-thread CPU/req) |', '|---|---:|---:|---:|']
  for (const c of [...TRIPLE_CATEGORIES].sort((x, y) => b.selfUs[y] - b.selfUs[x])) {
    if (b.selfUs[c] === 0) continue
    const share = b.busyUs === 0 ? 0 : b.selfUs[c] / b.busyUs
    out.push(`| ${c} | ${(b.selfUs[c] / 1000).toFixed(1)} | ${(share * 100).toFixed(1)}% | ${(share * r.mainUsPerReq).toFixed(1)} |`)
  }
  out.push('', `GC (--trace-gc, in the window): ${r.gc.scavenges} scavenges, ${r.gc.scavengeMs.toFixed(1)} ms; ${r.gc.markCompacts} mark-compacts, ${r.gc.markCompactMs.toFixed(1)} ms; ${(r.requests / Math.max(1, r.gc.scavenges)).toFixed(0)} requests per scavenge.`, '')
  out.push('Heaviest functions by self time:', '', '| function | category | self ms | share |', '|---|---|---:|---:|')
  for (const t of b.top.slice(0, 20)) out.push(`| \`${t.frame}\` | ${t.category} | ${(t.us / 1000).toFixed(1)} | ${(100 * t.us / b.busyUs).toFixed(1)}% |`)
  out.push('')
  return out.join('\n')
}

async function main (): Promise<void> {
  const load = loadavg()
  const bodyFile = join(tmp, 'body.bin')
  writeFileSync(bodyFile, grpcFrame(95))
  const upstreamPort = await freePort()
  const upstream = startChild('upstream', process.execPath, ['--import', 'tsx', join(here, 'h2-upstream.ts'), String(upstreamPort)], root)
  children.push(upstream)
  await waitForPort(upstream, upstreamPort)
  const h2 = { bodyFile, clients: 16, streams: 10, rps: 0, headers: HEADERS, tmpDir: tmp }
  const results: ChainResult[] = []
  for (const chain of CHAINS) results.push(await profileChain(chain, upstreamPort, h2))
  await stopChild(upstream)
  const head = [`## Triple CPU profile of the gateway process${LABEL === '' ? '' : ` (${LABEL})`}`, '',
    `${new Date().toISOString()}, node ${process.version}, load average at start ${load.map(x => x.toFixed(2)).join(' ')}; \`node --cpu-prof --cpu-prof-interval ${INTERVAL} --trace-gc dist/bin/isthmus.js start\`, default config apart from listeners, the example's greeter cluster and route; \`h2load -c 16 -m 10\`, 100-byte gRPC unary (bench/h2-upstream.ts). Self time of the main thread; a frame with no category of its own (Buffer, V8 builtins, events, native nghttp2 calls) counts for its caller. Profiling adds cost: read the shares, and the µs/req only beside a run of bench:triple.`, '']
  const notes = ['Categories:', '', ...TRIPLE_CATEGORIES.map(c => `- **${c}**: ${TRIPLE_NOTES[c] ?? CATEGORY_NOTES[c as Category]}`), '']
  const md = [...head, ...results.map(report), ...notes].join('\n')
  console.log(md)
  const stamp = new Date().toISOString().replace(/:/g, '-').slice(0, 19)
  const base = join(here, 'results', `profile-triple-${stamp}${LABEL === '' ? '' : `-${LABEL.replace(/[^A-Za-z0-9_-]+/g, '-')}`}`)
  writeFileSync(`${base}.md`, md)
  writeFileSync(`${base}.json`, JSON.stringify({ date: new Date().toISOString(), label: LABEL, node: process.version, loadavgAtStart: load, intervalUs: INTERVAL, results: results.map(({ b, ...r }) => ({ ...r, selfUs: b.selfUs, idleUs: b.idleUs, busyUs: b.busyUs, samples: b.samples, top: b.top })) }, null, 2))
  console.log(`wrote ${base}.md and .json`)
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
