/**
 * `npm run bench:h2-relay`: the frame-level HTTP/2 relay prototype (bench/h2-frame-relay/)
 * against the bare node:http2 pass-through (bench/bare-passthrough.ts), nginx grpc_pass and
 * haproxy h2 -> h2 (each when installed),
 * in ONE run: HTTP/2 unary gRPC, 100-byte request and response, h2load -c 16 -m 10, targets
 * alternated (order rotated each round), proxy CPU per request from /proc/<pid>/stat deltas
 * around each h2load run, medians over rounds (PERF.md). Writes bench/results/h2-relay-<stamp>.json.
 *
 * Options: --rounds N (5), --requests N (60000), --quick, --no-write.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as grpc from '@grpc/grpc-js'
import { endStreamCheck, grpcCall, type CheckResult } from './lib/checks.js'
import { h2loadArgv, runH2load, type H2loadArgs, type H2loadResult } from './lib/h2load.js'
import { nginxVersion, startNginx } from './lib/nginx.js'
import { cpuMicros, freePort, median, startChild, stopChild, waitForPort, type Child, medianOf, medianRoundRatio } from './lib/proc.js'
import { grpcFrame } from './h2-upstream.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '60000' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
})
const ROUNDS = opt.quick ? 2 : Number(opt.rounds)
const REQUESTS = opt.quick ? 20000 : Number(opt.requests)
const WARMUP = opt.quick ? 5000 : 10000
const PATH = '/isthmus.example.Greeter/SayHello'
const HEADERS = ['content-type: application/grpc', 'te: trailers']

interface Target { name: string, what: string, port: number, child: Child | null }
interface Sample extends H2loadResult { round: number, proxyCpuUsPerReq: number | null, upstreamCpuUsPerReq: number }

const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-h2relay-'))
const children: Child[] = []
const log = (s: string): void => { process.stderr.write(s + '\n') }
const fmt = (x: number | null, d = 0): string => x === null || Number.isNaN(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })

function nodeChild (name: string, args: string[]): Child {
  // node itself, not the tsx binary (which forks): the pid is the process doing the work.
  const c = startChild(name, process.execPath, ['--import', 'tsx', ...args], root)
  children.push(c)
  return c
}

async function setup (): Promise<{ upstream: Child, targets: Target[], bodyFile: string }> {
  const bodyFile = join(tmp, 'body.bin')
  writeFileSync(bodyFile, grpcFrame(95))
  writeFileSync(join(tmp, 'body.json'), JSON.stringify(['world']))
  const upstreamPort = await freePort()
  const upstream = nodeChild('upstream', ['bench/h2-upstream.ts', String(upstreamPort)])
  await waitForPort(upstream, upstreamPort)
  const targets: Target[] = [{ name: 'direct', what: 'node:http2 upstream, no proxy', port: upstreamPort, child: null }]
  const add = async (name: string, what: string, start: (port: number) => Child): Promise<void> => {
    const port = await freePort()
    const child = start(port)
    await waitForPort(child, port)
    targets.push({ name, what, port, child })
  }
  await add('bare', 'bench/bare-passthrough.ts (node:http2 server + one client session)', p => nodeChild('bare', ['bench/bare-passthrough.ts', String(p), String(upstreamPort)]))
  await add('frame-relay', 'bench/h2-frame-relay (frames from socket bytes, one upstream connection)', p => nodeChild('frame-relay', ['bench/h2-frame-relay/relay.ts', String(p), String(upstreamPort), '1']))
  if (nginxVersion() !== null) {
    await add('nginx', 'nginx grpc_pass, 1 process, upstream keepalive 512', (p) => {
      const c = startNginx(join(tmp, 'nginx'), p, upstreamPort)
      children.push(c)
      return c
    })
  } else log('nginx not installed: skipping the nginx target')
  if (spawnSync('sh', ['-c', 'command -v haproxy']).status === 0) {
    await add('haproxy', 'haproxy h2 -> h2, nbthread 1, http-reuse always', (p) => {
      const cfg = join(tmp, 'haproxy.cfg')
      writeFileSync(cfg, [
        'global', '  nbthread 1', '  maxconn 4000',
        'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '  http-reuse always',
        'listen grpc', `  bind 127.0.0.1:${p} proto h2`, `  server up 127.0.0.1:${upstreamPort} proto h2`, '',
      ].join('\n'))
      const c = startChild('haproxy', 'haproxy', ['-f', cfg, '-db'], tmp)
      children.push(c)
      return c
    })
  } else log('haproxy not installed: skipping the haproxy target')
  return { upstream, targets, bodyFile }
}

async function measure (t: Target, upstream: Child, base: Omit<H2loadArgs, 'url'>, round: number): Promise<Sample> {
  const pid = t.child?.pid
  const c0 = pid !== undefined ? cpuMicros(pid) : 0
  const u0 = cpuMicros(upstream.pid)
  const r = await runH2load({ ...base, url: `http://127.0.0.1:${t.port}${PATH}` })
  const u1 = cpuMicros(upstream.pid)
  const c1 = pid !== undefined ? cpuMicros(pid) : 0
  if (r.failed + r.errored + r.timeout > 0 || r.status2xx !== base.requests) {
    log(`  ${t.name}: ${r.failed} failed, ${r.errored} errored, ${r.timeout} timeout, ${r.status2xx} 2xx of ${base.requests}`)
  }
  const n = r.succeeded
  return { ...r, round, proxyCpuUsPerReq: pid !== undefined ? (c1 - c0) / n : null, upstreamCpuUsPerReq: (u1 - u0) / n }
}

const rotate = <T>(xs: readonly T[], k: number): T[] => [...xs.slice(k % xs.length), ...xs.slice(0, k % xs.length)]

async function main (): Promise<void> {
  const started = new Date()
  const load0 = os.loadavg()
  const { upstream, targets, bodyFile } = await setup()
  const sat: Omit<H2loadArgs, 'url'> = { bodyFile, requests: REQUESTS, clients: 16, streams: 10, rps: 0, headers: HEADERS, tmpDir: tmp }

  const checks: Record<string, CheckResult[]> = {}
  for (const t of targets) {
    checks[t.name] = [
      await grpcCall(t.port, PATH, grpcFrame(95), grpc.status.OK, 95),
      await endStreamCheck(t.port, '/isthmus.example.Greeter/NoTrailers', join(tmp, 'body.json')),
    ]
    for (const c of checks[t.name]) log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${t.name.padEnd(12)} ${c.detail}`)
  }
  log(`warm-up: ${WARMUP} requests per target`)
  for (const t of targets) await runH2load({ ...sat, requests: WARMUP, url: `http://127.0.0.1:${t.port}${PATH}` })

  const samples: Record<string, Sample[]> = Object.fromEntries(targets.map(t => [t.name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of rotate(targets, round)) {
      const s = await measure(t, upstream, sat, round)
      samples[t.name].push(s)
      log(`round ${round + 1}/${ROUNDS} ${t.name.padEnd(12)} ${fmt(s.reqPerSec).padStart(7)} req/s  proxy ${fmt(s.proxyCpuUsPerReq, 1).padStart(6)} µs/req  upstream ${fmt(s.upstreamCpuUsPerReq, 1)} µs/req  p50 ${fmt(s.p50, 2)} ms  p99 ${fmt(s.p99, 2)} ms`)
    }
  }

  // Ratios per round (same conditions), then the median.
  const perRound = (name: string, ref: string, f: (s: Sample) => number | null): number => medianRoundRatio(samples[name], samples[ref], f)
  const med = medianOf
  const cpu = (x: Sample): number | null => x.proxyCpuUsPerReq
  const rows = targets.map(t => ({
    target: t.name,
    what: t.what,
    reqPerSec: med(samples[t.name], x => x.reqPerSec),
    proxyCpuUsPerReq: t.child === null ? null : med(samples[t.name], cpu),
    proxyCpuUsPerReqMin: t.child === null ? null : Math.min(...samples[t.name].map(x => x.proxyCpuUsPerReq ?? Infinity)),
    cpuRatioToBare: t.child === null ? null : perRound(t.name, 'bare', cpu),
    cpuRatioToNginx: t.child === null || !(t.name !== 'nginx' && 'nginx' in samples) ? null : perRound(t.name, 'nginx', cpu),
    upstreamCpuUsPerReq: med(samples[t.name], x => x.upstreamCpuUsPerReq),
    p50Ms: med(samples[t.name], x => x.p50),
    p99Ms: med(samples[t.name], x => x.p99),
    checks: checks[t.name],
    samples: samples[t.name],
  }))

  const head = '| target | req/s | proxy CPU µs/req (median / min) | vs bare | vs nginx | upstream CPU µs/req | p50 ms | p99 ms | checks |'
  const lines = rows.map(r => `| ${r.target} | ${fmt(r.reqPerSec)} | ${r.proxyCpuUsPerReq === null ? '–' : `${fmt(r.proxyCpuUsPerReq, 1)} / ${fmt(r.proxyCpuUsPerReqMin, 1)}`} | ${r.cpuRatioToBare === null ? '–' : fmt(r.cpuRatioToBare, 2)} | ${r.cpuRatioToNginx === null ? '–' : fmt(r.cpuRatioToNginx, 2)} | ${fmt(r.upstreamCpuUsPerReq, 1)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${r.checks.every(c => c.ok) ? 'ok' : 'FAIL'} |`)
  const table = [head, '|---|---:|---:|---:|---:|---:|---:|---:|---|', ...lines].join('\n')
  process.stdout.write('\n' + table + '\n')
  const relay = rows.find(r => r.target === 'frame-relay')!
  const bare = rows.find(r => r.target === 'bare')!
  const verdicts = [
    `frame-relay CPU/request vs bare pass-through: ${fmt(relay.cpuRatioToBare, 2)}x (median of per-round ratios; ${fmt(relay.proxyCpuUsPerReq, 1)} vs ${fmt(bare.proxyCpuUsPerReq, 1)} µs/req); at least 2x cheaper: ${relay.cpuRatioToBare !== null && relay.cpuRatioToBare <= 0.5 ? 'yes' : 'no'}`,
  ]
  if (relay.cpuRatioToNginx !== null) verdicts.push(`frame-relay CPU/request vs nginx grpc_pass: ${fmt(relay.cpuRatioToNginx, 2)}x (median of per-round ratios)`)
  if ('haproxy' in samples) verdicts.push(`frame-relay CPU/request vs haproxy h2 -> h2: ${fmt(perRound('frame-relay', 'haproxy', cpu), 2)}x (median of per-round ratios)`)
  for (const v of verdicts) process.stdout.write(v + '\n')
  const failed = rows.flatMap(r => r.checks.filter(c => !c.ok).map(c => `${r.target}: ${c.detail}`))
  if (failed.length > 0) process.stdout.write(`CHECKS FAILED:\n  ${failed.join('\n  ')}\n`)

  if (!opt['no-write']) {
    const commit = (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim() } catch { return null } })()
    const machine = {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? '?',
      node: process.version,
      h2load: execFileSync('h2load', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim(),
      nginx: nginxVersion(),
      loadavgStart: load0.map(x => Math.round(x * 100) / 100),
      loadavgEnd: os.loadavg().map(x => Math.round(x * 100) / 100),
    }
    const h2load = 'h2load ' + h2loadArgv({ ...sat, bodyFile: '<100-byte gRPC frame>', url: `http://127.0.0.1:<port>${PATH}` }, '<log>').map(x => x.includes(' ') ? `'${x}'` : x).join(' ')
    const dir = join(root, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `h2-relay-${started.toISOString().slice(0, 19).replace(/:/g, '-')}.json`)
    writeFileSync(file, JSON.stringify({ bench: 'h2-relay', date: started.toISOString(), commit, machine, args: { h2load, rounds: ROUNDS, warmupRequests: WARMUP }, verdicts, rows }, null, 2) + '\n')
    log(`wrote ${file}`)
  }
}

try {
  await main()
} finally {
  for (const c of children.reverse()) await stopChild(c)
  rmSync(tmp, { recursive: true, force: true })
}
