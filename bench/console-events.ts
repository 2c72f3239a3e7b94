/**
 * `npm run bench:events`: does watching the console cost the data path? Unary gRPC at a fixed
 * rate through the compiled gateway (bundled example config, Greeter cluster pointed at
 * bench/h2-upstream.ts), in alternating rounds without and with 100 clients following
 * `GET /v1/events` (each reading every state event). Reports the median p50/p99 of each mode
 * and the p99 change; the bound is +10%. Run on a quiet machine: on a shared one the
 * noise between rounds is larger than the effect.
 *
 * Options: --rounds N (4 per mode), --requests N (12800 per round), --watchers N (100),
 *   --rate N (fixed rate per h2load client, 16 clients; 200), --no-write.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import YAML from 'yaml'
import { runH2load, type H2loadResult } from './lib/h2load.js'
import { cpuMicros, freePort, median, sleep, startChild, stopChild, waitForPort } from './lib/proc.js'
import { grpcFrame } from './h2-upstream.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    requests: { type: 'string', default: '12800' },
    watchers: { type: 'string', default: '100' },
    rate: { type: 'string', default: '200' },
    'no-write': { type: 'boolean', default: false },
  },
})
const ROUNDS = Number(opt.rounds)
const REQUESTS = Number(opt.requests)
const WATCHERS = Number(opt.watchers)
const CLIENTS = 16
const RATE_PER_CLIENT = Number(opt.rate)
const TOKEN = 'bench-events-token'
const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-bench-events-'))
const log = (...a: unknown[]): void => { process.stderr.write(a.map(String).join(' ') + '\n') }

interface Watchers { events: number, bytes: number, close (): Promise<void> }

/** `n` clients following /v1/events, counting events and bytes. */
async function watch (adminPort: number, n: number): Promise<Watchers> {
  const stats = { events: 0, bytes: 0 }
  const readers: Array<ReadableStreamDefaultReader<Uint8Array>> = []
  const done: Array<Promise<void>> = []
  for (let i = 0; i < n; i++) {
    const r = await fetch(`http://127.0.0.1:${adminPort}/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` } })
    if (r.status !== 200 || r.body === null) throw new Error(`watcher ${i}: ${r.status} ${await r.text()}`)
    const reader = r.body.getReader()
    readers.push(reader)
    done.push((async () => {
      const dec = new TextDecoder()
      for (;;) {
        const { done: end, value } = await reader.read().catch(() => ({ done: true, value: undefined }))
        if (end === true || value === undefined) return
        stats.bytes += value.length
        const text = dec.decode(value, { stream: true })
        for (let j = text.indexOf('event: state'); j !== -1; j = text.indexOf('event: state', j + 1)) stats.events++
      }
    })())
  }
  return {
    get events () { return stats.events },
    get bytes () { return stats.bytes },
    async close () { for (const r of readers) await r.cancel().catch(() => {}); await Promise.all(done) },
  }
}

async function main (): Promise<void> {
  const upstreamPort = await freePort()
  const port = await freePort()
  const adminPort = await freePort()
  const upstream = startChild('upstream', process.execPath, ['--import', 'tsx', 'bench/h2-upstream.ts', String(upstreamPort)], root)
  await waitForPort(upstream, upstreamPort)
  const example = YAML.parse(readFileSync(join(root, 'examples', 'isthmus.example.yaml'), 'utf8')) as Record<string, any>
  example.listeners = { triple: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort, token: TOKEN } }
  example.clusters = [{ name: 'greeter', protocol: 'triple', lb: { policy: 'least-request' }, hosts: [{ address: '127.0.0.1', port: upstreamPort, labels: { version: 'v1' } }] }]
  example.routes = example.routes.filter((r: { cluster: string }) => r.cluster === 'greeter').map((r: Record<string, unknown>) => ({ ...r, subset: undefined }))
  example.log = { level: 'warn', access: 'off' }
  const config = join(tmp, 'isthmus.yaml')
  writeFileSync(config, YAML.stringify(example))
  const gw = startChild('isthmus', process.execPath, [join(root, 'dist', 'bin', 'isthmus.js'), 'start', '-c', config], root)
  try {
    await waitForPort(gw, port)
    await waitForPort(gw, adminPort)
    const bodyFile = join(tmp, 'body.bin')
    writeFileSync(bodyFile, grpcFrame(95))
    // The gateway's CPU per request (all threads, /proc) is steadier than p99 on a busy machine.
    const run = async (): Promise<H2loadResult & { cpuUsPerReq: number }> => {
      const cpu0 = cpuMicros(gw.pid)
      const r = await runH2load({
        url: `http://127.0.0.1:${port}/isthmus.example.Greeter/SayHello`, bodyFile, requests: REQUESTS, clients: CLIENTS, streams: 1,
        rps: RATE_PER_CLIENT, headers: ['content-type: application/grpc', 'te: trailers'], tmpDir: tmp,
      })
      return { ...r, cpuUsPerReq: (cpuMicros(gw.pid) - cpu0) / REQUESTS }
    }
    log('warm-up')
    await run()
    const off: Array<H2loadResult & { cpuUsPerReq: number }> = []
    const on: Array<H2loadResult & { cpuUsPerReq: number }> = []
    let perTick = 0
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order each round so drift (other load on the machine) hits both modes.
      for (const mode of round % 2 === 0 ? ['off', 'on'] : ['on', 'off']) {
        if (mode === 'off') { const r = await run(); off.push(r); log(`round ${round} off: p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms, gateway ${r.cpuUsPerReq.toFixed(1)} µs CPU/req, ${r.failed + r.errored} failed`); continue }
        const w = await watch(adminPort, WATCHERS)
        await sleep(1500)
        const before = { events: w.events, bytes: w.bytes }
        const r = await run()
        if (w.events > before.events) perTick = (w.bytes - before.bytes) / (w.events - before.events)
        log(`round ${round} on (${WATCHERS} watchers, ${w.events - before.events} events): p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms, gateway ${r.cpuUsPerReq.toFixed(1)} µs CPU/req, ${r.failed + r.errored} failed`)
        await w.close()
        on.push(r)
      }
    }
    const result = {
      date: new Date().toISOString(), cpus: os.cpus().length, load: os.loadavg(), rounds: ROUNDS, requests: REQUESTS, rate: CLIENTS * RATE_PER_CLIENT, watchers: WATCHERS,
      off: { p50: median(off.map(r => r.p50)), p99: median(off.map(r => r.p99)), cpuUsPerReq: median(off.map(r => r.cpuUsPerReq)) },
      on: { p50: median(on.map(r => r.p50)), p99: median(on.map(r => r.p99)), cpuUsPerReq: median(on.map(r => r.cpuUsPerReq)) },
      bytesPerEvent: Math.round(perTick),
      p99Change: 0,
    }
    result.p99Change = result.on.p99 / result.off.p99 - 1
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    log(`p99 without watchers ${result.off.p99.toFixed(2)} ms, with ${WATCHERS}: ${result.on.p99.toFixed(2)} ms (${(result.p99Change * 100).toFixed(1)}%; bound +10%); gateway CPU ${result.off.cpuUsPerReq.toFixed(1)} -> ${result.on.cpuUsPerReq.toFixed(1)} µs/req`)
    if (opt['no-write'] !== true) {
      mkdirSync(join(root, 'bench', 'results'), { recursive: true })
      writeFileSync(join(root, 'bench', 'results', `console-events-${result.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2) + '\n')
    }
  } finally {
    await stopChild(gw)
    await stopChild(upstream)
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
