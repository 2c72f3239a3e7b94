/**
 * `npm run bench:idle-probe`: where an idle server's CPU goes. One server (the gateway, one
 * process, or the bare Node server of bench/bare-idle-server.ts) holds CONNS idle connections
 * of KIND; after SETTLE_MS, CPU per thread (/proc/<pid>/task/<tid>, named by comm) over
 * IDLE_MS, and the GCs V8 reports during that window (the server runs with --trace-gc).
 * Env: KIND (h2c | bolt | bolt-tls, h2c), CONNS (15000), CLIENTS (4), SERVER (isthmus | bare),
 * SETTLE_MS (10000), IDLE_MS (30000), NODE_ARGS (more node flags for the server, space separated),
 * STEP_MS (1000: CPU per step from schedstat, mean and median; the median leaves out one-off GCs),
 * GATEWAY_ROOT (a checkout whose dist/ to run instead of this one's), GC_LINES=1 prints the GC lines seen in the window, FORCE_GC=1 forces a full GC (as bench/connections.ts
 * does for its heap figure) once the connections are open, before the settle wait.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GC_HOOK_ARGS, heapAfterGc } from './lib/heap.js'
import { freePort, sleep, startChild, stopChild, threadCpuMicros, waitForPort, type Child } from './lib/proc.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const KIND = process.env.KIND ?? 'h2c'
const CONNS = Number(process.env.CONNS ?? 15000)
const CLIENTS = Number(process.env.CLIENTS ?? 4)
const SERVER = process.env.SERVER ?? 'isthmus'
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 10000)
const IDLE_MS = Number(process.env.IDLE_MS ?? 30000)
const FORCE_GC = process.env.FORCE_GC === '1'
const NODE_ARGS = [...(process.env.NODE_ARGS ?? '').split(' ').filter(a => a !== ''), ...(FORCE_GC && process.env.SERVER !== 'bare' ? GC_HOOK_ARGS : [])]
const tmp = mkdtempSync(join(os.tmpdir(), 'isthmus-idle-probe-'))
process.env.ISTHMUS_BENCH_HEAP_DIR = tmp // read by the gateway's gc hook
// GATEWAY_ROOT: another build's checkout (e.g. the commit before a change, for a before/after in one run).
const cli = join(process.env.GATEWAY_ROOT ?? root, 'dist/bin/isthmus.js')

interface Tls { ca: string, cert: string, key: string, ccert: string, ckey: string }
function certs (): Tls {
  const run = (...a: string[]): void => { execFileSync(process.execPath, [cli, 'certs', ...a], { stdio: 'ignore' }) }
  run('init-ca', '--entity', 'acme', '--out', join(tmp, 'ca'))
  run('issue', '--ca', join(tmp, 'ca'), '--entity', 'acme', '--app', 'gw', '--out', join(tmp, 'server'), '--name', 'tls', '--server', '--ip', '127.0.0.1', '--dns', 'localhost')
  run('issue', '--ca', join(tmp, 'ca'), '--entity', 'acme', '--app', 'client', '--out', join(tmp, 'client'), '--name', 'tls', '--client')
  return { ca: join(tmp, 'server', 'ca.crt'), cert: join(tmp, 'server', 'tls.crt'), key: join(tmp, 'server', 'tls.key'), ccert: join(tmp, 'client', 'tls.crt'), ckey: join(tmp, 'client', 'tls.key') }
}

/** Time on CPU of every thread of `pid` in ns (schedstat: finer than stat's 10 ms ticks). */
function runNanos (pid: number): number {
  let n = 0
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try { n += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) } catch {}
  }
  return n
}

function threads (pid: number): Map<string, number> {
  const out = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
      out.set(`${tid} ${name}`, threadCpuMicros(pid, Number(tid)))
    } catch {}
  }
  return out
}

async function main (): Promise<void> {
  const tls = KIND === 'bolt-tls' ? certs() : null
  const port = await freePort()
  let child: Child
  if (SERVER === 'bare') {
    const args = [KIND, String(port)]
    if (tls !== null) args.push(tls.cert, tls.key, tls.ca)
    child = startChild('bare', process.execPath, ['--trace-gc', '--expose-gc', ...NODE_ARGS, '--import', 'tsx', join(root, 'bench/bare-idle-server.ts'), ...args], root)
    await waitForPort(child, port, 60000)
  } else {
    const admin = await freePort()
    const big = 100000000
    const listener = KIND === 'h2c'
      ? `triple: { host: 0.0.0.0, port: ${port}, limits: { maxConnections: ${big}, maxConnectionsPerSource: ${big}, firstByteTimeoutMs: ${big}, headersTimeoutMs: ${big}, idleTimeoutMs: ${big} } }`
      : `bolt: { host: 0.0.0.0, port: ${port}, idleTimeoutMs: ${big}, limits: { maxConnections: ${big}, maxConnectionsPerSource: ${big}, firstByteTimeoutMs: ${big} }${tls !== null ? `, tls: { cert: ${tls.cert}, key: ${tls.key}, ca: ${tls.ca}, requireClientCert: true }` : ''} }`
    const file = join(tmp, 'gw.yaml')
    writeFileSync(file, `entity: acme\nlisteners:\n  ${listener}\n  admin: { host: 127.0.0.1, port: ${admin}, token: bench }\nlog: { level: warn, access: off }\n`)
    child = startChild('isthmus', process.execPath, ['--trace-gc', ...NODE_ARGS, cli, 'start', '-c', file, '--workers', '1'], root)
    await waitForPort(child, admin, 60000)
    await waitForPort(child, port, 60000)
  }
  const gcLines: string[] = []
  let counting = false
  let windowAt = 0
  let buf = ''
  child.proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    const lines = buf.split('\n')
    buf = lines.pop() ?? ''
    for (const l of lines) {
      if (!/Mark-Compact|Scavenge|Mark-sweep|Minor/i.test(l)) continue
      if (counting) gcLines.push(`+${((performance.now() - windowAt) / 1000).toFixed(1)} s ${l}`)
      else if (process.env.GC_LINES === '1') console.log('  gc (outside the window): ' + l.trim())
    }
  })
  const kids: Child[] = []
  const ready: Array<Promise<void>> = []
  const per = Math.ceil(CONNS / CLIENTS)
  for (let i = 0; i < CLIENTS; i++) {
    const args = [KIND, String(port), String(per), `127.0.${1 + i}.1`]
    if (tls !== null) args.push(tls.ccert, tls.ckey, tls.ca)
    const c = startChild(`clients-${i}`, process.execPath, ['--import', 'tsx', join(root, 'bench/idle-clients.ts'), ...args], root)
    kids.push(c)
    ready.push(new Promise((resolve, reject) => {
      c.proc.stdout!.on('data', (d: Buffer) => { if (/OPEN \d+ failed \d+/.test(d.toString())) resolve() })
      c.proc.on('exit', (code) => reject(new Error(`clients exited ${code}: ${c.tail.join(' | ')}`)))
    }))
  }
  try {
    await Promise.all(ready)
    if (FORCE_GC) {
      if (SERVER === 'bare') {
        await new Promise<void>((resolve) => {
          const on = (d: Buffer): void => { if (/HEAP \d+/.test(d.toString())) { child.proc.stdout!.off('data', on); resolve() } }
          child.proc.stdout!.on('data', on)
          child.proc.kill('SIGUSR2')
        })
      } else await heapAfterGc([child.pid], tmp)
    }
    await sleep(SETTLE_MS)
    const t0 = threads(child.pid)
    counting = true
    windowAt = performance.now()
    // CPU of the whole process per STEP_MS (a transient, e.g. GCs after the connection burst, shows as a bump).
    const step = Number(process.env.STEP_MS ?? 1000)
    let prev = runNanos(child.pid)
    const steps: number[] = []
    for (let t = step; t <= IDLE_MS; t += step) {
      await sleep(step)
      const c = runNanos(child.pid)
      steps.push((c - prev) / (step * 1e4))
      prev = c
    }
    console.log(`CPU % per ${step} ms: ${steps.map(x => x.toFixed(2)).join(' ')}`)
    const sorted = [...steps].sort((a, b) => a - b)
    console.log(`steps: mean ${(steps.reduce((a, b) => a + b, 0) / steps.length).toFixed(3)} %, median ${sorted[Math.floor(sorted.length / 2)].toFixed(3)} %`)
    counting = false
    const t1 = threads(child.pid)
    let total = 0
    const rows: Array<[string, number]> = []
    for (const [k, v] of t1) {
      const d = v - (t0.get(k) ?? 0)
      total += d
      if (d > 0) rows.push([k, d / (IDLE_MS * 10)])
    }
    rows.sort((a, b) => b[1] - a[1])
    const perMin = (re: RegExp): number => gcLines.filter(l => re.test(l)).length * 60000 / IDLE_MS
    console.log(`${SERVER} ${KIND} ${CONNS} conns, ${IDLE_MS} ms idle, load ${os.loadavg().map(x => x.toFixed(2)).join(' ')}`)
    console.log(`total ${(total / (IDLE_MS * 10)).toFixed(2)} % of a core; GCs/min: scavenge ${perMin(/Scavenge/).toFixed(1)}, mark-compact ${perMin(/Mark-Compact|Mark-sweep/).toFixed(1)}, minor-ms ${perMin(/Minor/).toFixed(1)}`)
    for (const [k, p] of rows) console.log(`  ${k.padEnd(24)} ${p.toFixed(2)} %`)
    if (process.env.GC_LINES === '1') for (const l of gcLines) console.log('  gc: ' + l.trim())
  } finally {
    for (const k of kids) await stopChild(k, 1000)
    await stopChild(child)
    rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
