/**
 * `npm run bench:workers`: Triple (h2load, unary, 100-byte bodies) and Bolt (bench/bolt-load-
 * client.ts) throughput through the compiled gateway with 1 and then 2 workers (`--workers`),
 * alternated in one run, medians over rounds. The load generator shares the machine's cores,
 * so req/s says little on a 2-core box; the figure that matters is the gateway's CPU per
 * request (primary + every worker, from /proc/<pid>/stat), which must stay within 1.1x of one
 * process. Options (env): BENCH_ROUNDS (3), BENCH_REQUESTS (Triple requests per run, 30000),
 * BENCH_MS (Bolt run length, 3000). Writes bench/results/workers-<date>.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runLoad } from './bolt-load-client.js'
import { runH2load } from './lib/h2load.js'
import { cpuMicros, freePort, median, startChild, stopChild, waitForPort, type Child } from './lib/proc.js'
import { grpcFrame } from './h2-upstream.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 30000)
const BOLT_MS = Number(process.env.BENCH_MS ?? 3000)
const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-bench-workers-'))
const body = join(tmp, 'body.bin')
writeFileSync(body, grpcFrame(95))

interface Gw { child: Child, triple: number, bolt: number, admin: number, pids: () => Promise<number[]> }

async function startGateway (workers: number, triplePort: number, boltPort: number): Promise<Gw> {
  const [triple, bolt, admin] = [await freePort(), await freePort(), await freePort()]
  const file = join(tmp, `gw-${workers}.yaml`)
  writeFileSync(file, `entity: acme
listeners:
  triple: { host: 127.0.0.1, port: ${triple} }
  bolt: { host: 127.0.0.1, port: ${bolt} }
  admin: { host: 127.0.0.1, port: ${admin}, token: bench }
clusters:
  - { name: h2, protocol: triple, hosts: [{ address: 127.0.0.1, port: ${triplePort} }] }
  - { name: bolt, protocol: bolt, hosts: [{ address: 127.0.0.1, port: ${boltPort} }] }
routes:
  - { name: bolt, match: { protocol: bolt }, cluster: bolt }
  - { name: all, match: { service: { prefix: "" } }, cluster: h2 }
log: { level: warn, access: off }
`)
  const child = startChild(`isthmus-${workers}w`, process.execPath, [join(root, 'dist/bin/isthmus.js'), 'start', '-c', file, '--workers', String(workers)], root)
  await waitForPort(child, admin, 60000)
  await waitForPort(child, triple, 60000)
  const pids = async (): Promise<number[]> => {
    if (workers === 1) return [child.pid]
    const r = await fetch(`http://127.0.0.1:${admin}/v1/config`, { headers: { authorization: 'Bearer bench' } })
    const b = await r.json() as { workers: Array<{ pid: number }> }
    return [child.pid, ...b.workers.map(w => w.pid)]
  }
  return { child, triple, bolt, admin, pids }
}

async function cpuOf (pids: number[]): Promise<number> {
  let n = 0
  for (const p of pids) { try { n += cpuMicros(p) } catch {} }
  return n
}

interface Row { workers: number, tripleRps: number, tripleCpuUs: number, boltRps: number, boltCpuUs: number }

async function main (): Promise<void> {
  const h2 = startChild('h2-upstream', process.execPath, ['--import', 'tsx', join(root, 'bench/h2-upstream.ts'), String(await freePort())], root)
  const h2Port = Number(/ready (\d+)/.exec(await firstLine(h2, /ready \d+/))?.[1])
  const boltUp = startChild('bolt-upstream', process.execPath, ['--import', 'tsx', join(root, 'bench/echo-bolt-upstream.ts')], root)
  const boltPort = Number(/PORT (\d+)/.exec(await firstLine(boltUp, /PORT \d+/))?.[1])
  const rows: Row[] = []
  try {
    const gws = new Map<number, Gw>()
    for (const w of [1, 2]) gws.set(w, await startGateway(w, h2Port, boltPort))
    for (let round = 0; round < ROUNDS; round++) {
      for (const w of round % 2 === 0 ? [1, 2] : [2, 1]) {
        const g = gws.get(w) as Gw
        const pids = await g.pids()
        let c0 = await cpuOf(pids)
        const t = await runH2load({ url: `http://127.0.0.1:${g.triple}/bench.Echo/Unary`, bodyFile: body, requests: REQUESTS, clients: 8, streams: 10, rps: 0, headers: ['content-type: application/grpc', 'te: trailers'], tmpDir: tmp })
        const tripleCpu = (await cpuOf(pids)) - c0
        c0 = await cpuOf(pids)
        const b = await runLoad(g.bolt, 8, 16, BOLT_MS)
        const boltCpu = (await cpuOf(pids)) - c0
        rows.push({ workers: w, tripleRps: t.reqPerSec, tripleCpuUs: tripleCpu / Math.max(1, t.succeeded), boltRps: b.rps, boltCpuUs: boltCpu / Math.max(1, b.requests) })
        process.stderr.write(`round ${round + 1} workers=${w}: triple ${t.reqPerSec.toFixed(0)} req/s (${t.failed + t.errored} failed), bolt ${b.rps.toFixed(0)} req/s (${b.errors} errors)\n`)
      }
    }
    for (const g of gws.values()) await stopChild(g.child)
  } finally {
    await stopChild(h2)
    await stopChild(boltUp)
    rmSync(tmp, { recursive: true, force: true })
  }
  const summary = [1, 2].map(w => {
    const r = rows.filter(x => x.workers === w)
    return { workers: w, tripleRps: median(r.map(x => x.tripleRps)), tripleCpuUsPerReq: median(r.map(x => x.tripleCpuUs)), boltRps: median(r.map(x => x.boltRps)), boltCpuUsPerReq: median(r.map(x => x.boltCpuUs)) }
  })
  const [one, two] = summary
  const ratios = { tripleCpuPerReq: two.tripleCpuUsPerReq / one.tripleCpuUsPerReq, boltCpuPerReq: two.boltCpuUsPerReq / one.boltCpuUsPerReq }
  console.log('workers | Triple req/s | Triple CPU µs/req | Bolt req/s | Bolt CPU µs/req')
  for (const s of summary) console.log(`${s.workers}       | ${s.tripleRps.toFixed(0)} | ${s.tripleCpuUsPerReq.toFixed(1)} | ${s.boltRps.toFixed(0)} | ${s.boltCpuUsPerReq.toFixed(1)}`)
  console.log(`CPU per request, 2 workers / 1: Triple ${ratios.tripleCpuPerReq.toFixed(2)}x, Bolt ${ratios.boltCpuPerReq.toFixed(2)}x (target <= 1.1x); cores: ${os.availableParallelism()}, load average ${os.loadavg()[0].toFixed(1)}`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, `bench/results/workers-${new Date().toISOString().slice(0, 10)}.json`), JSON.stringify({ node: process.version, rounds: ROUNDS, requests: REQUESTS, boltMs: BOLT_MS, loadavg: os.loadavg(), summary, ratios, rows }, null, 2))
}

function firstLine (c: Child, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    c.proc.stdout!.on('data', (d: Buffer) => { buf += d.toString(); if (re.test(buf)) resolve(buf) })
    c.proc.on('exit', (code) => reject(new Error(`${c.name} exited ${code}: ${c.tail.join(' | ')}`)))
  })
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
