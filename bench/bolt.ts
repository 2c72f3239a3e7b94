/**
 * `npm run bench:bolt`: Bolt through each target, alternated in one run (A B C ... then C B A
 * ...), medians quoted, ratios to the Node pipe relay. Core targets: direct to the echo
 * upstream, the Node `stream.pipe` relay (bench/raw-pipe-relay.ts), haproxy `mode tcp` when
 * installed, and Isthmus: the compiled gateway process (`dist/bin/isthmus.js start`, so `npm
 * run build` first) with its default config apart from listeners, one cluster and one route.
 * Shapes: 4 connections x 32 in flight with the client writing all frames one read lets it send
 * in ONE write (as a pipelining SOFA client under load does), the same with one write per
 * frame, and 64 connections x 1 in flight.
 * Env: BENCH_ROUNDS (3), BENCH_MS (2000, per run after a 300 ms warm-up), BENCH_LABEL (goes
 * into the result file name and JSON), BENCH_SHAPES (comma list of batch, frame, unpipelined), BENCH_CHAINS=1 adds the gateway with the example,
 * governance and mirror chains and the audit filter (file; file + BullMQ in a redis-server the
 * bench starts; BENCH_AUDIT=0 skips those two), BENCH_LISTENER=1 adds the old in-process
 * Bolt listener (bench/isthmus-bolt-proxy.ts, maxConnections 4 x 64 streams), BENCH_BASELINE=<another
 * build's bin/isthmus.js> adds that build with the same config (before/after in one run).
 * Proxy CPU is the process's user+system time (all threads; "main" = the main thread) from
 * /proc over the measured window, and its read/write syscalls (/proc/<pid>/io). Writes bench/results/bolt-<time>[-label].json.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runLoad, type LoadResult, type WriteStyle } from './bolt-load-client.js'
import { startBoltGateway, type BoltChain } from './lib/bolt-gateway.js'
import { cpuMicros, freePort, ioSyscalls, median, sleep, startChild, stopChild, threadCpuMicros, waitForPort, type Child } from './lib/proc.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DURATION_MS = Number(process.env.BENCH_MS ?? 2000)
const LABEL = process.env.BENCH_LABEL ?? ''
const CHAINS = process.env.BENCH_CHAINS === '1'
const tmp = mkdtempSync(join(tmpdir(), 'isthmus-bench-bolt-'))

const children: Child[] = []
process.on('exit', () => { for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL') })

/** A bench/*.ts helper that prints `PORT n`. */
async function startScript (name: string, script: string, args: string[]): Promise<{ child: Child, port: number }> {
  const child = startChild(name, process.execPath, ['--import', 'tsx', join(here, script), ...args], root)
  children.push(child)
  const port = await new Promise<number>((resolve, reject) => {
    let buf = ''
    child.proc.stdout!.on('data', (d: Buffer) => { buf += d.toString(); const m = /PORT (\d+)/.exec(buf); if (m !== null) resolve(Number(m[1])) })
    child.proc.on('exit', (code) => reject(new Error(`${script} exited ${code}: ${child.tail.join(' | ')}`)))
  })
  return { child, port }
}

async function startHaproxy (upstreamPort: number): Promise<{ child: Child, port: number } | null> {
  if (spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0) return null
  const port = await freePort()
  const cfg = join(tmp, 'haproxy.cfg')
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 4000',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s',
    'listen bolt', `  bind 127.0.0.1:${port}`, `  server up 127.0.0.1:${upstreamPort}`, '',
  ].join('\n'))
  const child = startChild('haproxy', 'haproxy', ['-f', cfg, '-db'], tmp)
  children.push(child)
  await waitForPort(child, port)
  return { child, port }
}

interface Target { name: string, port: number, pid: number | null }
interface Sample extends LoadResult { cpuUsPerReq: number | null, mainUsPerReq: number | null, readsPerReq: number | null, writesPerReq: number | null }
interface Row { shape: string, target: string, rps: number, rpsVsRelay: number, cpuUsPerReq: number | null, cpuVsRelay: number | null, mainUsPerReq: number | null, p99Ms: number, p99VsRelay: number, readsPerReq: number | null, writesPerReq: number | null, errors: number }
interface Shape { name: string, conns: number, depth: number, style: WriteStyle }

const RELAY = 'node pipe relay'
const ISTHMUS = 'isthmus'
const ALL_SHAPES: Array<Shape & { key: string }> = [
  { key: 'batch', name: '4x32 pipelined, one write per read', conns: 4, depth: 32, style: 'batch' },
  { key: 'frame', name: '4x32 pipelined, one write per frame', conns: 4, depth: 32, style: 'frame' },
  { key: 'unpipelined', name: '64x1 unpipelined', conns: 64, depth: 1, style: 'frame' },
]
const SHAPES: Shape[] = process.env.BENCH_SHAPES === undefined ? ALL_SHAPES : ALL_SHAPES.filter(s => process.env.BENCH_SHAPES!.split(',').includes(s.key))

async function measure (t: Target, shape: Shape): Promise<Sample> {
  let c0 = 0; let m0 = 0; let c1 = 0; let m1 = 0
  let io0 = { reads: 0, writes: 0 }; let io1 = io0
  const res = await runLoad(t.port, shape.conns, shape.depth, DURATION_MS, {
    style: shape.style,
    onWindowStart: () => { if (t.pid !== null) { c0 = cpuMicros(t.pid); m0 = threadCpuMicros(t.pid, t.pid); io0 = ioSyscalls(t.pid) } },
    onWindowEnd: () => { if (t.pid !== null) { c1 = cpuMicros(t.pid); m1 = threadCpuMicros(t.pid, t.pid); io1 = ioSyscalls(t.pid) } },
  })
  const per = (x: number): number | null => t.pid === null || res.requests === 0 ? null : x / res.requests
  return { ...res, cpuUsPerReq: per(c1 - c0), mainUsPerReq: per(m1 - m0), readsPerReq: per(io1.reads - io0.reads), writesPerReq: per(io1.writes - io0.writes) }
}

async function main (): Promise<void> {
  const load = loadavg()
  const up = await startScript('upstream', 'echo-bolt-upstream.ts', [])
  const relay = await startScript('relay', 'raw-pipe-relay.ts', [String(up.port)])
  const hap = await startHaproxy(up.port)
  const targets: Target[] = [
    { name: 'direct', port: up.port, pid: null },
    { name: RELAY, port: relay.port, pid: relay.child.pid },
  ]
  if (hap !== null) targets.push({ name: 'haproxy mode tcp', port: hap.port, pid: hap.child.pid })
  const gateway = async (name: string, chain: BoltChain, redisPort?: number, cli?: string): Promise<void> => {
    const g = await startBoltGateway(root, tmp, up.port, chain, { redisPort, cli })
    children.push(g.child)
    targets.push({ name, port: g.port, pid: g.child.pid })
  }
  await gateway(ISTHMUS, 'default')
  if (process.env.BENCH_BASELINE !== undefined) await gateway('isthmus baseline', 'default', undefined, process.env.BENCH_BASELINE)
  if (CHAINS) {
    await gateway('isthmus example chain', 'example')
    await gateway('isthmus governance chain', 'governance')
    await gateway('isthmus mirror 10%', 'mirror')
    if (process.env.BENCH_AUDIT !== '0') {
      await gateway('isthmus audit file', 'audit-file')
      if (spawnSync('sh', ['-c', 'command -v redis-server']).status === 0) {
        const rp = await freePort()
        const redis = startChild('redis', 'redis-server', ['--port', String(rp), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], tmp)
        children.push(redis)
        await waitForPort(redis, rp)
        await gateway('isthmus audit queue', 'audit-queue', rp)
      }
    }
  }
  if (process.env.BENCH_LISTENER === '1') {
    const l = await startScript('listener', 'isthmus-bolt-proxy.ts', [String(up.port), 'empty'])
    targets.push({ name: 'isthmus listener alone (old harness)', port: l.port, pid: l.child.pid })
  }

  const samples = new Map<string, Sample[]>()
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? targets : [...targets].reverse()
    for (const shape of SHAPES) {
      for (const t of order) {
        const s = await measure(t, shape)
        const key = `${shape.name}|${t.name}`
        samples.set(key, [...(samples.get(key) ?? []), s])
        process.stderr.write(`round ${r + 1} ${shape.name} ${t.name}: ${Math.round(s.rps)} req/s, ${s.cpuUsPerReq?.toFixed(2) ?? '-'} µs/req, p99 ${s.p99Ms.toFixed(2)} ms, errors ${s.errors}\n`)
        await sleep(100)
      }
    }
  }

  const rows: Row[] = []
  for (const shape of SHAPES) {
    const med = (name: string, f: (s: Sample) => number | null): number => median((samples.get(`${shape.name}|${name}`) ?? []).map(f).filter((x): x is number => x !== null))
    const relayRps = med(RELAY, s => s.rps)
    const relayCpu = med(RELAY, s => s.cpuUsPerReq)
    const relayP99 = med(RELAY, s => s.p99Ms)
    for (const t of targets) {
      const rps = med(t.name, s => s.rps)
      const cpu = t.pid === null ? null : med(t.name, s => s.cpuUsPerReq)
      const p99 = med(t.name, s => s.p99Ms)
      rows.push({
        shape: shape.name, target: t.name, rps: Math.round(rps), rpsVsRelay: +(rps / relayRps).toFixed(2),
        cpuUsPerReq: cpu === null ? null : +cpu.toFixed(2), cpuVsRelay: cpu === null ? null : +(cpu / relayCpu).toFixed(2),
        mainUsPerReq: t.pid === null ? null : +med(t.name, s => s.mainUsPerReq).toFixed(2),
        p99Ms: +p99.toFixed(2), p99VsRelay: +(p99 / relayP99).toFixed(2),
        readsPerReq: t.pid === null ? null : +med(t.name, s => s.readsPerReq).toFixed(3),
        writesPerReq: t.pid === null ? null : +med(t.name, s => s.writesPerReq).toFixed(3),
        errors: (samples.get(`${shape.name}|${t.name}`) ?? []).reduce((a, s) => a + s.errors, 0),
      })
    }
  }
  console.log(`\nBolt bench: ${ROUNDS} alternated rounds of ${DURATION_MS} ms, medians (node ${process.version}, load average at start ${load.map(x => x.toFixed(2)).join(' ')})${LABEL === '' ? '' : `, ${LABEL}`}\n`)
  console.log('| shape | target | req/s | × relay | proxy CPU µs/req | × relay | p99 ms | × relay | read / write syscalls per req | errors |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) console.log(`| ${r.shape} | ${r.target} | ${r.rps} | ${r.rpsVsRelay} | ${r.cpuUsPerReq ?? '–'} | ${r.cpuVsRelay ?? '–'} | ${r.p99Ms} | ${r.p99VsRelay} | ${r.readsPerReq === null ? '–' : `${r.readsPerReq} / ${r.writesPerReq}`} | ${r.errors} |`)
  // Issue 13's targets for the gateway (default config), same run.
  const row = (key: string): Row | undefined => rows.find(x => x.shape === ALL_SHAPES.find(s => s.key === key)!.name && x.target === ISTHMUS)
  const goals: string[] = []
  const pipe = row('batch'); const unp = row('unpipelined')
  if (pipe !== undefined) {
    goals.push(`pipelined (one write per read) >= 0.6x relay: ${pipe.rpsVsRelay}x ${pipe.rpsVsRelay >= 0.6 ? 'met' : 'MISSED'}`)
    goals.push(`pipelined proxy CPU <= 3 µs/req: ${pipe.cpuUsPerReq} ${(pipe.cpuUsPerReq ?? Infinity) <= 3 ? 'met' : 'MISSED'}`)
  }
  if (unp !== undefined) goals.push(`unpipelined >= 1.0x relay: ${unp.rpsVsRelay}x ${unp.rpsVsRelay >= 1 ? 'met' : 'MISSED'}`)
  for (const r of [pipe, unp]) if (r !== undefined) goals.push(`${r.shape} p99 <= 1.5x relay: ${r.p99VsRelay}x ${r.p99VsRelay <= 1.5 ? 'met' : 'MISSED'}`)
  console.log('')
  for (const g of goals) console.log(`- ${g}`)

  // Chain targets: CPU per request over the default gateway's, per round (same conditions), then the median.
  const chainRatios: Array<{ shape: string, target: string, allThreads: number, mainThread: number, addedUs: number }> = []
  for (const shape of SHAPES) {
    const base = samples.get(`${shape.name}|${ISTHMUS}`) ?? []
    for (const t of targets.filter(x => x.name.startsWith('isthmus ') && !x.name.includes('old harness'))) {
      const a = samples.get(`${shape.name}|${t.name}`) ?? []
      const ratio = (f: (s: Sample) => number | null): number => median(a.map((x, i) => { const y = base[i] === undefined ? null : f(base[i]); const v = f(x); return v === null || y === null || y === 0 ? NaN : v / y }).filter(x => !Number.isNaN(x)))
      const added = median(a.map((x, i) => (x.cpuUsPerReq ?? NaN) - (base[i]?.cpuUsPerReq ?? NaN)).filter(x => !Number.isNaN(x)))
      chainRatios.push({ shape: shape.name, target: t.name, allThreads: +ratio(s => s.cpuUsPerReq).toFixed(3), mainThread: +ratio(s => s.mainUsPerReq).toFixed(3), addedUs: +added.toFixed(2) })
    }
  }
  for (const c of chainRatios) console.log(`- ${c.shape}: ${c.target} CPU/request vs the default gateway (target <= 1.10): ${c.allThreads}x all threads, ${c.mainThread}x main thread, +${c.addedUs} µs: ${c.allThreads <= 1.1 ? 'met' : 'MISSED'}`)

  mkdirSync(join(here, 'results'), { recursive: true })
  const stamp = new Date().toISOString().replace(/:/g, '-').slice(0, 19)
  const file = join(here, 'results', `bolt-${stamp}${LABEL === '' ? '' : `-${LABEL.replace(/[^A-Za-z0-9_-]+/g, '-')}`}.json`)
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), label: LABEL, node: process.version, loadavgAtStart: load, rounds: ROUNDS, durationMs: DURATION_MS, shapes: SHAPES, targets: targets.map(t => t.name), gatewayConfig: readFileSync(join(tmp, readdirSync(tmp).find(f => f.startsWith('isthmus-bolt-default-'))!), 'utf8'), rows, goals, chainRatios, samples: Object.fromEntries(samples) }, null, 2))
  console.log(`\nwrote ${file}`)
  for (const c of children) await stopChild(c)
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
