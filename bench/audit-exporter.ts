/**
 * `npm run bench:audit-exporter`: does `isthmus audit export` keep up with the gateway at full
 * throughput? A redis-server, the bench upstream, the gateway with the audit queue on, and the
 * exporter (file sink) run as their own processes; h2load saturates the gateway for --seconds
 * (60); the queue depth (BullMQ wait + active) and the gateway's spool bytes are sampled every
 * second. Flat = the depth neither trends up (least-squares slope) nor ends above what it
 * reached in the first tenth of the run; after the load, the time the exporter needs to drain
 * what is left. Writes bench/results/audit-exporter-<date>.json.
 *
 * Options: --seconds N (60), --clients N (16), --streams N (10).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import YAML from 'yaml'
import { grpcFrame } from './h2-upstream.js'
import { cpuMicros, freePort, sleep, startChild, stopChild, waitForPort, type Child } from './lib/proc.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const { values: opt } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, clients: { type: 'string', default: '16' }, streams: { type: 'string', default: '10' } } })
const SECONDS = Number(opt.seconds)
const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-bench-exporter-'))
const children: Child[] = []
const log = (s: string): void => { process.stderr.write(s + '\n') }

function slope (ys: number[]): number {
  const n = ys.length
  if (n < 2) return 0
  const mx = (n - 1) / 2
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0; let den = 0
  for (let i = 0; i < n; i++) { num += (i - mx) * (ys[i] - my); den += (i - mx) ** 2 }
  return num / den
}

async function metric (adminPort: number, name: string): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
    return m === null ? NaN : Number(m[1])
  } catch { return NaN }
}

async function main (): Promise<void> {
  const cli = join(root, 'dist', 'bin', 'isthmus.js')
  if (!existsSync(cli)) throw new Error('run "npm run build" first (the exporter and gateway run from dist/)')
  const redisPort = await freePort()
  const redis = startChild('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], tmp)
  children.push(redis)
  await waitForPort(redis, redisPort)
  const upstreamPort = await freePort()
  const upstream = startChild('upstream', process.execPath, ['--import', 'tsx', 'bench/h2-upstream.ts', String(upstreamPort)], root)
  children.push(upstream)
  await waitForPort(upstream, upstreamPort)
  const port = await freePort()
  const adminPort = await freePort()
  const config = join(tmp, 'gateway.yaml')
  writeFileSync(config, YAML.stringify({
    entity: 'bench',
    listeners: { triple: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort, token: 'bench' } },
    clusters: [{ name: 'greeter', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: upstreamPort }] }],
    routes: [{ name: 'greeter', match: { service: { prefix: '' } }, cluster: 'greeter' }],
    redis: { url: `redis://127.0.0.1:${redisPort}`, keyPrefix: 'bench:' },
    audit: { enabled: true, dir: join(tmp, 'audit'), queue: true },
    log: { level: 'warn', access: 'off' },
    drain: { timeoutMs: 1000 },
  }))
  const gw = startChild('gateway', process.execPath, ['--max-semi-space-size=32', cli, 'start', '-c', config], root)
  children.push(gw)
  await waitForPort(gw, port)
  const exporter = startChild('exporter', process.execPath, [cli, 'audit', 'export', '--redis', `redis://127.0.0.1:${redisPort}`, '--key-prefix', 'bench:', '--sink', `file:${join(tmp, 'sink', 'audit.ndjson')}`], root)
  children.push(exporter)
  const q = new Redis({ port: redisPort, host: '127.0.0.1' })
  const depth = async (): Promise<number> => (await q.llen('bench:bull:audit:wait')) + (await q.llen('bench:bull:audit:active'))

  const body = join(tmp, 'body.bin')
  writeFileSync(body, grpcFrame(95))
  log(`load: h2load -D ${SECONDS} -c ${opt.clients} -m ${opt.streams} for ${SECONDS} s`)
  const g0 = cpuMicros(gw.pid); const e0 = cpuMicros(exporter.pid)
  const load = spawn('h2load', ['-D', String(SECONDS), '-c', opt.clients!, '-m', opt.streams!, '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${port}/isthmus.example.Greeter/SayHello`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  load.stdout.on('data', (b: Buffer) => { out += b.toString() })
  const loadDone = new Promise<void>(resolve => load.on('close', () => resolve()))
  const series: Array<{ t: number, depth: number, spoolBytes: number, records: number }> = []
  const start = Date.now()
  let running = true
  void loadDone.then(() => { running = false })
  while (running) {
    await sleep(1000)
    const s = { t: Math.round((Date.now() - start) / 100) / 10, depth: await depth(), spoolBytes: await metric(adminPort, 'isthmus_audit_spool_bytes'), records: await metric(adminPort, 'isthmus_audit_records_total') }
    series.push(s)
    log(`t=${s.t}s queue depth ${s.depth} jobs, spool ${s.spoolBytes} bytes, ${s.records} records`)
  }
  const g1 = cpuMicros(gw.pid); const e1 = cpuMicros(exporter.pid)
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN)
  const drainStart = Date.now()
  const written = await metric(adminPort, 'isthmus_audit_records_total')
  const sinkRecords = (): number => existsSync(join(tmp, 'sink', 'audit.ndjson')) ? readFileSync(join(tmp, 'sink', 'audit.ndjson'), 'utf8').split('\n').filter(l => l.includes('"k":"rec"')).length : 0
  while (sinkRecords() < written && Date.now() - drainStart < 120_000) await sleep(500)
  const drainMs = Date.now() - drainStart
  const depths = series.map(s => s.depth)
  const early = Math.max(...depths.slice(0, Math.max(1, Math.ceil(depths.length / 10))))
  const sl = slope(depths)
  const flat = sl <= 0.5 && depths[depths.length - 1] <= Math.max(early * 2, 20)
  const result = {
    bench: 'audit-exporter', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(),
    seconds: SECONDS, reqPerSec: rps, recordsWritten: written, recordsExported: sinkRecords(), drainMsAfterLoad: drainMs,
    depthSlopeJobsPerSecond: sl, earlyMaxDepth: early, finalDepth: depths[depths.length - 1], maxDepth: Math.max(...depths), flat,
    gatewayCpuUsPerReq: (g1 - g0) / (rps * SECONDS), exporterCpuUsPerRecord: (e1 - e0) / Math.max(1, written), series,
  }
  process.stdout.write(`\nexporter keeps up: ${flat ? 'yes' : 'NO'} (queue depth slope ${sl.toFixed(2)} jobs/s, max ${result.maxDepth}, final ${result.finalDepth}, early max ${early}); ` +
    `${Math.round(rps)} req/s, ${written} records written, ${result.recordsExported} exported, drained ${drainMs} ms after the load; ` +
    `gateway ${result.gatewayCpuUsPerReq.toFixed(1)} µs/req, exporter ${result.exporterCpuUsPerRecord.toFixed(1)} µs/record\n`)
  const dir = join(root, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `audit-exporter-${result.date.slice(0, 19).replace(/:/g, '-')}.json`)
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
  log(`wrote ${file}`)
  q.disconnect()
}

try {
  await main()
} finally {
  for (const c of children.reverse()) await stopChild(c)
  rmSync(tmp, { recursive: true, force: true })
}
