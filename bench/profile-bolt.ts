/**
 * `npm run bench:profile`: where the gateway's time goes on the Bolt hot path. Runs the
 * compiled gateway process (default config apart from listeners, one cluster, one route:
 * bench/lib/bolt-gateway.ts) under `node --cpu-prof --trace-gc`, drives it with the Bolt load
 * client for PROFILE_MS, stops it (SIGTERM: the profile is written on exit) and prints the main
 * thread's self time per category (bench/lib/profile-categories.ts) over the loaded window,
 * with each share scaled to µs per request by the main thread's CPU time from /proc, the
 * heaviest functions, and the GC pauses --trace-gc reported during the window.
 * Env: PROFILE_MS (10000), PROFILE_SHAPES (comma list of batch | frame | unpipelined; default
 * batch = 4 connections x 32 in flight, one write per read's worth of frames), PROFILE_INTERVAL_US
 * (sampling interval, 500), PROFILE_LABEL. Writes bench/results/profile-bolt-<time>[-label].md
 * and .json; the .cpuprofile files stay in the temp directory it prints (open them in Chrome
 * DevTools or speedscope).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runLoad, type WriteStyle } from './bolt-load-client.js'
import { startBoltGateway } from './lib/bolt-gateway.js'
import { GcTrace, type GcCounts } from './lib/gc-trace.js'
import { breakdown, CATEGORIES, CATEGORY_NOTES, type Breakdown, type CpuProfile } from './lib/profile-categories.js'
import { cpuMicros, ioSyscalls, startChild, stopChild, threadCpuMicros, type Child } from './lib/proc.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const MS = Number(process.env.PROFILE_MS ?? 10000)
const INTERVAL = Number(process.env.PROFILE_INTERVAL_US ?? 500)
const LABEL = process.env.PROFILE_LABEL ?? ''
const SHAPES: Record<string, { conns: number, depth: number, style: WriteStyle, what: string }> = {
  batch: { conns: 4, depth: 32, style: 'batch', what: '4 conns x 32 in flight, one write per read' },
  frame: { conns: 4, depth: 32, style: 'frame', what: '4 conns x 32 in flight, one write per frame' },
  unpipelined: { conns: 64, depth: 1, style: 'frame', what: '64 conns x 1 in flight' },
}
const tmp = mkdtempSync(join(tmpdir(), 'isthmus-profile-bolt-'))
const children: Child[] = []
process.on('exit', () => { for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL') })

/** Monotonic clock in µs: the clock V8's profile timestamps use on Linux. */
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)

interface ShapeResult { shape: string, what: string, requests: number, rps: number, p99Ms: number, cpuUsPerReq: number, mainUsPerReq: number, readsPerReq: number, writesPerReq: number, windowed: boolean, profile: string, gc: GcCounts, b: Breakdown }

async function profileShape (name: string, upstreamPort: number): Promise<ShapeResult> {
  const shape = SHAPES[name]
  if (shape === undefined) throw new Error(`PROFILE_SHAPES: unknown shape ${name} (batch, frame, unpipelined)`)
  const profDir = join(tmp, name)
  mkdirSync(profDir)
  const g = await startBoltGateway(root, tmp, upstreamPort, 'default', { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', String(INTERVAL), '--trace-gc'] })
  children.push(g.child)
  const trace = new GcTrace(g.child)
  const gc = trace.counts
  let t0 = 0; let t1 = 0; let c0 = 0; let c1 = 0; let m0 = 0; let m1 = 0
  let io0 = { reads: 0, writes: 0 }; let io1 = io0
  const pid = g.child.pid
  const res = await runLoad(g.port, shape.conns, shape.depth, MS, {
    style: shape.style,
    onWindowStart: () => { trace.counting = true; t0 = nowUs(); c0 = cpuMicros(pid); m0 = threadCpuMicros(pid, pid); io0 = ioSyscalls(pid) },
    onWindowEnd: () => { trace.counting = false; t1 = nowUs(); c1 = cpuMicros(pid); m1 = threadCpuMicros(pid, pid); io1 = ioSyscalls(pid) },
  })
  await stopChild(g.child, 30000)
  const file = readdirSync(profDir).find(f => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`${name}: no .cpuprofile in ${profDir} (gateway exit ${g.child.proc.exitCode ?? g.child.proc.signalCode}): ${g.child.tail.join(' | ')}`)
  const prof = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile
  let b = breakdown(prof, t0, t1)
  // Should the clocks not line up, fall back to the whole profile (startup included) and say so.
  const windowed = b.samples > 0
  if (!windowed) b = breakdown(prof)
  return { shape: name, what: shape.what, requests: res.requests, rps: res.rps, p99Ms: res.p99Ms, cpuUsPerReq: (c1 - c0) / res.requests, mainUsPerReq: (m1 - m0) / res.requests, readsPerReq: (io1.reads - io0.reads) / res.requests, writesPerReq: (io1.writes - io0.writes) / res.requests, windowed, profile: join(profDir, file), gc, b }
}

function report (r: ShapeResult): string {
  const out: string[] = []
  const { b } = r
  out.push(`### ${r.what} (${r.shape})`, '')
  out.push(`${r.requests} requests in ${MS} ms (${Math.round(r.rps)} req/s under the profiler, p99 ${r.p99Ms.toFixed(2)} ms); gateway CPU ${r.cpuUsPerReq.toFixed(2)} µs/req all threads, ${r.mainUsPerReq.toFixed(2)} µs/req main thread (from /proc); ${r.readsPerReq.toFixed(3)} read and ${r.writesPerReq.toFixed(3)} write syscalls per request (/proc/<pid>/io); ${b.samples} samples${r.windowed ? ' in the load window' : ' (WHOLE profile: the window matched no sample)'}, main thread busy ${(b.busyUs / 1000).toFixed(0)} ms of samples vs ${(r.mainUsPerReq * r.requests / 1000).toFixed(0)} ms of CPU, idle ${(b.idleUs / 1000).toFixed(0)} ms.`, '')
  out.push('| category | self ms | share of busy | ≈ µs/req (share × main-thread CPU/req) |', '|---|---:|---:|---:|')
  for (const c of [...CATEGORIES].sort((x, y) => b.selfUs[y] - b.selfUs[x])) {
    const share = b.busyUs === 0 ? 0 : b.selfUs[c] / b.busyUs
    out.push(`| ${c} | ${(b.selfUs[c] / 1000).toFixed(1)} | ${(share * 100).toFixed(1)}% | ${(share * r.mainUsPerReq).toFixed(2)} |`)
  }
  out.push('', `GC (--trace-gc, in the window): ${r.gc.scavenges} scavenges, ${r.gc.scavengeMs.toFixed(1)} ms; ${r.gc.markCompacts} mark-compacts, ${r.gc.markCompactMs.toFixed(1)} ms; ${(r.requests / Math.max(1, r.gc.scavenges)).toFixed(0)} requests per scavenge.`, '')
  out.push('Heaviest functions by self time:', '', '| function | category | self ms | share |', '|---|---|---:|---:|')
  for (const t of b.top) out.push(`| \`${t.frame}\` | ${t.category} | ${(t.us / 1000).toFixed(1)} | ${(100 * t.us / b.busyUs).toFixed(1)}% |`)
  out.push('')
  return out.join('\n')
}

async function main (): Promise<void> {
  const load = loadavg()
  const upstream = startChild('upstream', process.execPath, ['--import', 'tsx', join(here, 'echo-bolt-upstream.ts')], root)
  children.push(upstream)
  const upstreamPort = await new Promise<number>((resolve, reject) => {
    let buf = ''
    upstream.proc.stdout!.on('data', (d: Buffer) => { buf += d.toString(); const m = /PORT (\d+)/.exec(buf); if (m !== null) resolve(Number(m[1])) })
    upstream.proc.on('exit', (code) => reject(new Error(`upstream exited ${code}`)))
  })
  const results: ShapeResult[] = []
  for (const name of (process.env.PROFILE_SHAPES ?? 'batch').split(',')) results.push(await profileShape(name.trim(), upstreamPort))
  await stopChild(upstream)
  const head = [
    `## Bolt CPU profile of the gateway process${LABEL === '' ? '' : ` (${LABEL})`}`, '',
    `${new Date().toISOString()}, node ${process.version}, load average at start ${load.map(x => x.toFixed(2)).join(' ')}; \`node --cpu-prof --cpu-prof-interval ${INTERVAL} --trace-gc dist/bin/isthmus.js start\`, default config apart from listeners, one cluster, one route; 323 B request, 179 B response (bench/echo-bolt-upstream.ts). Self time of the main thread; a helper with no category of its own (Buffer, V8 builtins, events) counts for its caller. Samples are the main thread's wall time: time it spent preempted counts where it stood (busy sample ms above its CPU ms), on a loaded machine mostly inside writev / writeBuffer, whose loopback send wakes the peer process, so the write share is an upper bound there. Profiling itself adds cost: read the shares, and the µs/req only beside a run of bench:bolt.`, '',
  ]
  const notes = ['Categories:', '', ...CATEGORIES.map(c => `- **${c}**: ${CATEGORY_NOTES[c]}`), '']
  const md = [...head, ...results.map(report), ...notes].join('\n')
  console.log(md)
  console.log(`profiles: ${results.map(r => r.profile).join(', ')}`)
  const stamp = new Date().toISOString().replace(/:/g, '-').slice(0, 19)
  const base = join(here, 'results', `profile-bolt-${stamp}${LABEL === '' ? '' : `-${LABEL.replace(/[^A-Za-z0-9_-]+/g, '-')}`}`)
  mkdirSync(dirname(base), { recursive: true })
  writeFileSync(`${base}.md`, md)
  writeFileSync(`${base}.json`, JSON.stringify({ date: new Date().toISOString(), label: LABEL, node: process.version, loadavgAtStart: load, ms: MS, intervalUs: INTERVAL, results: results.map(({ b, ...r }) => ({ ...r, selfUs: b.selfUs, idleUs: b.idleUs, busyUs: b.busyUs, samples: b.samples, top: b.top })) }, null, 2))
  console.log(`wrote ${base}.md and .json`)
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
