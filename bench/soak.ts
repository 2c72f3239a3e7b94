/**
 * `npm run bench:soak`: mixed Triple (grpc-js unary loops) and Bolt (bench/bolt-load-client.ts
 * in back-to-back segments) load through the compiled gateway with 2 workers, an admin push
 * every PUSH_MS, and one worker SIGKILLed halfway. Heap (after a full GC in every process:
 * bench/lib/gc-hook.cjs, summed) and RSS (every process) are sampled every 10 s; the last sample must be within 10%
 * of the first one after warm-up. Failed calls are counted by the worker their connection was
 * on (the worker-stamp filter names it): every failure must be on the killed worker.
 * Env: SOAK_MS (600000), WARMUP_MS (30000), PUSH_MS (3000), SAMPLE_MS (10000).
 * Writes bench/results/soak-<date>.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { runLoad } from './bolt-load-client.js'
import { GC_HOOK_ARGS, heapAfterGc } from './lib/heap.js'
import { freePort, sleep, startChild, stopChild, waitForPort } from './lib/proc.js'
import { echoClient, startEchoServer, unary, type EchoClient } from '../test/_peers/grpc-echo.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const SOAK_MS = Number(process.env.SOAK_MS ?? 600000)
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 30000)
const PUSH_MS = Number(process.env.PUSH_MS ?? 3000)
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 10000)
const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-bench-soak-'))
process.env.ISTHMUS_BENCH_HEAP_DIR = tmp // read by the gateway's gc hook (workers inherit it)

function rssOf (pids: number[]): number {
  let n = 0
  for (const p of pids) { try { n += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024 } catch {} }
  return n
}

async function main (): Promise<void> {
  const echo = await startEchoServer('echo')
  const boltUp = startChild('bolt-upstream', process.execPath, ['--import', 'tsx', join(root, 'bench/echo-bolt-upstream.ts')], root)
  const boltPort = await new Promise<number>((resolve) => { let b = ''; boltUp.proc.stdout!.on('data', (d: Buffer) => { b += d.toString(); const m = /PORT (\d+)/.exec(b); if (m !== null) resolve(Number(m[1])) }) })
  const [triple, bolt, admin] = [await freePort(), await freePort(), await freePort()]
  const file = join(tmp, 'gw.yaml')
  writeFileSync(file, `entity: acme
listeners:
  triple: { host: 127.0.0.1, port: ${triple} }
  bolt: { host: 127.0.0.1, port: ${bolt} }
  admin: { host: 127.0.0.1, port: ${admin}, token: bench }
clusters:
  - { name: echo, protocol: triple, hosts: [{ address: 127.0.0.1, port: ${echo.port} }] }
  - { name: bolt, protocol: bolt, hosts: [{ address: 127.0.0.1, port: ${boltPort} }] }
routes:
  - { name: bolt, match: { protocol: bolt }, cluster: bolt }
  - { name: all, match: { service: { prefix: "" } }, cluster: echo }
filters:
  - { name: stamp, module: ${JSON.stringify(join(root, 'test/_helpers/filters/worker-stamp.mjs'))}, config: { tag: t0 } }
log: { level: warn, access: off }
`)
  const gw = startChild('isthmus', process.execPath, [...GC_HOOK_ARGS, join(root, 'dist/bin/isthmus.js'), 'start', '-c', file, '--workers', '2'], root)
  await waitForPort(gw, admin, 60000)
  await waitForPort(gw, triple, 60000)
  const auth = { authorization: 'Bearer bench' }
  const cfg = async (): Promise<{ generation: number, workers: Array<{ pid: number, generation: number, state: string }> }> => (await fetch(`http://127.0.0.1:${admin}/v1/config`, { headers: auth })).json() as never
  const pids = async (): Promise<number[]> => [gw.pid, ...(await cfg()).workers.map(w => w.pid)]
  // A restarting worker may not have its gc hook yet.
  const readyPids = async (): Promise<number[]> => [gw.pid, ...(await cfg()).workers.filter(w => w.state === 'ready').map(w => w.pid)]

  let running = true
  const triple_ = { ok: 0, failedByPid: new Map<string, number>() }
  const clients: Array<{ c: EchoClient, pid: string }> = []
  for (let i = 0; i < 8; i++) {
    const c = echoClient(triple, { 'grpc.use_local_subchannel_pool': 1 })
    const r = await unary(c, { message: 'x' })
    clients.push({ c, pid: String(r.headers.get('x-worker')[0]) })
  }
  const loop = async (x: { c: EchoClient, pid: string }): Promise<void> => {
    while (running) {
      try {
        const r = await unary(x.c, { message: 'soak' })
        x.pid = String(r.headers.get('x-worker')[0])
        triple_.ok++
      } catch (err) {
        triple_.failedByPid.set(x.pid, (triple_.failedByPid.get(x.pid) ?? 0) + 1)
        void (err as grpc.ServiceError)
      }
    }
  }
  const loops = clients.map(loop)
  const boltRuns: Array<{ at: number, requests: number, errors: number }> = []
  const boltLoop = (async () => {
    while (running) {
      const at = Date.now()
      try { const r = await runLoad(bolt, 4, 8, 5000); boltRuns.push({ at, requests: r.requests, errors: r.errors }) } catch (err) { boltRuns.push({ at, requests: 0, errors: -1 }); await sleep(500) }
    }
  })()
  let revision = 0
  const pushes = { ok: 0, failed: 0 }
  const pusher = (async () => {
    while (running) {
      await sleep(PUSH_MS)
      const r = await fetch(`http://127.0.0.1:${admin}/v1/filters/stamp`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ revision: ++revision, config: { tag: `t${revision}` } }) })
      if (r.status === 200) pushes.ok++; else pushes.failed++
      await r.arrayBuffer()
    }
  })()
  const start = Date.now()
  const samples: Array<{ t: number, heap: number, rss: number }> = []
  let killed: { pid: string, at: number } | null = null
  while (Date.now() - start < SOAK_MS) {
    await sleep(SAMPLE_MS)
    const t = Date.now() - start
    if (killed === null && t >= SOAK_MS / 2) {
      const victim = String((await cfg()).workers[0].pid)
      process.kill(Number(victim), 'SIGKILL')
      killed = { pid: victim, at: t }
      process.stderr.write(`${t} ms: killed worker pid ${victim}\n`)
    }
    samples.push({ t, heap: await heapAfterGc(await readyPids(), tmp), rss: rssOf(await pids()) })
    process.stderr.write(`${t} ms: heap ${(samples.at(-1)!.heap / 1048576).toFixed(1)} MB, rss ${(samples.at(-1)!.rss / 1048576).toFixed(1)} MB, triple ok ${triple_.ok}\n`)
  }
  running = false
  await Promise.all([...loops, boltLoop, pusher])
  const final = await cfg()
  for (const x of clients) x.c.close()
  await stopChild(gw)
  await stopChild(boltUp)
  await echo.close()
  rmSync(tmp, { recursive: true, force: true })
  const base = samples.find(s => s.t >= WARMUP_MS) ?? samples[0]
  const last = samples.at(-1)!
  const failedOnVictim = killed === null ? 0 : triple_.failedByPid.get(killed.pid) ?? 0
  const failedElsewhere = [...triple_.failedByPid.entries()].filter(([p]) => p !== killed?.pid).reduce((n, [, v]) => n + v, 0)
  const summary = {
    soakMs: SOAK_MS, tripleOk: triple_.ok, tripleFailedOnKilledWorker: failedOnVictim, tripleFailedElsewhere: failedElsewhere,
    boltRequests: boltRuns.reduce((n, r) => n + r.requests, 0), boltErrors: boltRuns.reduce((n, r) => n + Math.max(0, r.errors), 0), boltRunsFailed: boltRuns.filter(r => r.errors < 0).length,
    pushes, killed, finalGenerations: final.workers.map(w => w.generation), generation: final.generation,
    heapChange: last.heap / base.heap - 1, rssChange: last.rss / base.rss - 1,
  }
  console.log(JSON.stringify(summary, null, 2))
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, `bench/results/soak-${new Date().toISOString().slice(0, 10)}.json`), JSON.stringify({ node: process.version, loadavg: os.loadavg(), summary, samples, boltRuns }, null, 2))
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
