/**
 * `npm run bench:bolt`: Bolt throughput through each target, alternated in one run
 * (A B C ... A B C ...), medians quoted. Targets: direct to the echo upstream, the raw TCP
 * pipe relay (reference), Isthmus with an empty chain, Isthmus with the example chain
 * (`headers` + a `deny` rule that never matches), Isthmus with the governance chain (ldc +
 * stress + rate-limit with a non-binding rule), haproxy `mode tcp` when installed, Isthmus
 * with the audit filter writing files (audit file) and files + BullMQ in a redis-server the
 * bench starts (audit queue; nothing consumes it during the run). BENCH_AUDIT=0 skips them.
 * Isthmus with the mirror filter copying 10% of calls to a second cluster (same upstream).
 * Shapes: 4 connections x 32 pipelined, 64 connections x 1. Each proxy runs in its own
 * child process; its CPU time comes from /proc/<pid>/stat. Writes bench/results/bolt-<date>.json.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runLoad, type LoadResult } from './bolt-load-client.js'

const here = dirname(fileURLToPath(import.meta.url))
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DURATION_MS = Number(process.env.BENCH_MS ?? 2000)
const TICK = 100 // USER_HZ on Linux

const children: ChildProcess[] = []
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })

async function startNode (script: string, args: string[]): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const port = await new Promise<number>((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); const m = /PORT (\d+)/.exec(buf); if (m !== null) resolve(Number(m[1])) })
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}`)))
  })
  return { child, port }
}

async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', () => resolve()))
  const p = (s.address() as AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return p
}

async function startHaproxy (upstreamPort: number): Promise<{ child: ChildProcess, port: number } | null> {
  if (spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0) return null
  const port = await freePort()
  const cfg = join(tmpdir(), `isthmus-bench-haproxy-${process.pid}.cfg`)
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 4000',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s',
    `listen bolt`, `  bind 127.0.0.1:${port}`, `  server up 127.0.0.1:${upstreamPort}`, '',
  ].join('\n'))
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  await new Promise(resolve => setTimeout(resolve, 500))
  return { child, port }
}

function cpuTicks (pid: number, thread = false): number {
  const stat = readFileSync(thread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12]) // utime + stime (fields 14, 15)
}

interface Target { name: string, port: number, pid: number | null }
interface Sample extends LoadResult { cpuUsPerReq: number | null, mainUsPerReq: number | null }

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)] }

async function main (): Promise<void> {
  const up = await startNode('echo-bolt-upstream.ts', [])
  const relay = await startNode('raw-pipe-relay.ts', [String(up.port)])
  const empty = await startNode('isthmus-bolt-proxy.ts', [String(up.port), 'empty'])
  const example = await startNode('isthmus-bolt-proxy.ts', [String(up.port), 'example'])
  const governance = await startNode('isthmus-bolt-proxy.ts', [String(up.port), 'governance'])
  const mirror = await startNode('isthmus-bolt-proxy.ts', [String(up.port), 'mirror'])
  const hap = await startHaproxy(up.port)
  const withAudit = process.env.BENCH_AUDIT !== '0'
  const auditFile = withAudit ? await startNode('isthmus-bolt-proxy.ts', [String(up.port), 'audit-file']) : null
  let auditQueue: { child: ChildProcess, port: number } | null = null
  if (withAudit && spawnSync('sh', ['-c', 'command -v redis-server']).status === 0) {
    const rp = await freePort()
    const redis = spawn('redis-server', ['--port', String(rp), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    children.push(redis)
    await new Promise(resolve => setTimeout(resolve, 300))
    auditQueue = await startNode('isthmus-bolt-proxy.ts', [String(up.port), 'audit-queue', join(tmpdir(), `isthmus-bench-bolt-audit-${process.pid}`), String(rp)])
  }
  const targets: Target[] = [
    { name: 'direct', port: up.port, pid: null },
    { name: 'raw pipe relay', port: relay.port, pid: relay.child.pid! },
    { name: 'isthmus empty chain', port: empty.port, pid: empty.child.pid! },
    { name: 'isthmus example chain', port: example.port, pid: example.child.pid! },
    { name: 'isthmus governance chain', port: governance.port, pid: governance.child.pid! },
    { name: 'isthmus mirror 10%', port: mirror.port, pid: mirror.child.pid! },
  ]
  if (hap !== null) targets.push({ name: 'haproxy mode tcp', port: hap.port, pid: hap.child.pid! })
  if (auditFile !== null) targets.push({ name: 'isthmus audit file', port: auditFile.port, pid: auditFile.child.pid! })
  if (auditQueue !== null) targets.push({ name: 'isthmus audit queue', port: auditQueue.port, pid: auditQueue.child.pid! })
  const shapes = [{ name: '4 conns x 32 pipelined', conns: 4, depth: 32 }, { name: '64 conns x 1', conns: 64, depth: 1 }]
  const samples = new Map<string, Sample[]>()
  for (let r = 0; r < ROUNDS; r++) {
    for (const shape of shapes) {
      for (const t of targets) {
        const c0 = t.pid === null ? 0 : cpuTicks(t.pid)
        const m0 = t.pid === null ? 0 : cpuTicks(t.pid, true)
        const res = await runLoad(t.port, shape.conns, shape.depth, DURATION_MS)
        const c1 = t.pid === null ? 0 : cpuTicks(t.pid)
        const m1 = t.pid === null ? 0 : cpuTicks(t.pid, true)
        // CPU includes the 300 ms warm-up; count its requests at the measured rate.
        const reqs = res.rps * (DURATION_MS + 300) / 1000
        const cpuUs = t.pid === null ? null : ((c1 - c0) / TICK) * 1e6 / reqs
        const key = `${shape.name}|${t.name}`
        const list = samples.get(key) ?? []
        list.push({ ...res, cpuUsPerReq: cpuUs, mainUsPerReq: t.pid === null ? null : ((m1 - m0) / TICK) * 1e6 / reqs })
        samples.set(key, list)
        process.stderr.write(`round ${r + 1} ${shape.name} ${t.name}: ${Math.round(res.rps)} req/s\n`)
      }
    }
  }
  const rows = []
  for (const shape of shapes) {
    const med = (name: string, f: (s: Sample) => number | null): number => median((samples.get(`${shape.name}|${name}`) ?? []).map(f).filter((x): x is number => x !== null))
    const direct = med('direct', s => s.rps)
    const relayRps = med('raw pipe relay', s => s.rps)
    for (const t of targets) {
      const rps = med(t.name, s => s.rps)
      rows.push({
        shape: shape.name, target: t.name, rps: Math.round(rps),
        vsRelay: +(rps / relayRps).toFixed(2), vsDirect: +(rps / direct).toFixed(2),
        cpuUsPerReq: t.pid === null ? null : +med(t.name, s => s.cpuUsPerReq).toFixed(1),
        mainUsPerReq: t.pid === null ? null : +med(t.name, s => s.mainUsPerReq).toFixed(1),
        p99Ms: +med(t.name, s => s.p99Ms).toFixed(2),
        errors: (samples.get(`${shape.name}|${t.name}`) ?? []).reduce((a, s) => a + s.errors, 0),
      })
    }
  }
  // Governance chain CPU per request over the empty chain's, per round (same conditions), then the median.
  const governanceRatios: Array<{ shape: string, ratio: number, addedUs: number }> = []
  for (const shape of shapes) {
    const g = samples.get(`${shape.name}|isthmus governance chain`) ?? []
    const e = samples.get(`${shape.name}|isthmus empty chain`) ?? []
    const ratios: number[] = []
    const added: number[] = []
    for (let i = 0; i < Math.min(g.length, e.length); i++) {
      if (g[i].cpuUsPerReq !== null && e[i].cpuUsPerReq !== null && e[i].cpuUsPerReq! > 0) { ratios.push(g[i].cpuUsPerReq! / e[i].cpuUsPerReq!); added.push(g[i].cpuUsPerReq! - e[i].cpuUsPerReq!) }
    }
    governanceRatios.push({ shape: shape.name, ratio: +median(ratios).toFixed(3), addedUs: +median(added).toFixed(2) })
  }
  console.log(`\nBolt bench: ${ROUNDS} alternated rounds of ${DURATION_MS} ms, medians (node ${process.version})\n`)
  console.log('| shape | target | req/s | vs relay | vs direct | proxy CPU µs/req | p99 ms | errors |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.shape} | ${r.target} | ${r.rps} | ${r.vsRelay} | ${r.vsDirect} | ${r.cpuUsPerReq ?? '–'} | ${r.p99Ms} | ${r.errors} |`)
  for (const g of governanceRatios) console.log(`governance chain CPU/request vs the empty chain, ${g.shape} (target <= 1.10): ${g.ratio}x (median of per-round ratios), +${g.addedUs} µs/req: ${g.ratio <= 1.1 ? 'met' : 'MISSED'}`)
  // The audit filter's cost: per-round ratios to the empty chain, then the median (all threads / main thread).
  for (const shape of shapes) {
    const ratio = (name: string, f: (s: Sample) => number | null): number => {
      const a = samples.get(`${shape.name}|${name}`) ?? []; const b = samples.get(`${shape.name}|isthmus empty chain`) ?? []
      return median(a.map((x, i) => { const y = b[i] === undefined ? null : f(b[i]); const v = f(x); return v === null || y === null || y === 0 ? NaN : v / y }).filter(x => !Number.isNaN(x)))
    }
    for (const name of ['isthmus mirror 10%', 'isthmus audit file', 'isthmus audit queue']) {
      if (!samples.has(`${shape.name}|${name}`)) continue
      const all = ratio(name, s => s.cpuUsPerReq)
      console.log(`${shape.name}: ${name} CPU/request vs empty chain (target <= 1.10): ${all.toFixed(2)}x all threads, ${ratio(name, s => s.mainUsPerReq).toFixed(2)}x main thread: ${all <= 1.1 ? 'met' : 'MISSED'}`)
    }
  }
  mkdirSync(join(here, 'results'), { recursive: true })
  const file = join(here, 'results', `bolt-${new Date().toISOString().slice(0, 10)}.json`)
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds: ROUNDS, durationMs: DURATION_MS, rows, governanceRatios, samples: Object.fromEntries(samples) }, null, 2))
  console.log(`\nwrote ${file}`)
  for (const c of children) c.kill('SIGTERM')
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
