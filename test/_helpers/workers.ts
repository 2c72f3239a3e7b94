/**
 * A multi-worker gateway for tests: the compiled CLI with `--workers 2`, one grpc-js echo
 * upstream, the worker-stamp user filter (each response names the worker's pid and the
 * config tag it was compiled with), and helpers to read each worker's generation.
 */
import type { ExecutionContext } from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type * as grpc from '@grpc/grpc-js'
import { spawnGateway, type RunningGateway } from './cli.js'
import { httpJson } from './http.js'
import { echoClient, startEchoServer, unary, type EchoClient, type EchoServer } from '../_peers/grpc-echo.js'

export const TOKEN = 'workers-token'
const STAMP = fileURLToPath(new URL('./filters/worker-stamp.mjs', import.meta.url))

export interface WorkerInfo { worker: number, pid: number | null, generation: number, state: string, restarts: number }
export interface WorkersSetup { dir: string, gw: RunningGateway, echo: EchoServer }

export async function startWorkers (t: ExecutionContext, count = 2): Promise<WorkersSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-workers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const echo = await startEchoServer('echo')
  t.teardown(() => echo.close())
  const file = join(dir, 'isthmus.yaml')
  writeFileSync(file, `entity: acme
listeners:
  triple: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }
clusters:
  - { name: echo, protocol: triple, hosts: [{ address: 127.0.0.1, port: ${echo.port} }] }
routes:
  - { name: all, match: { service: { prefix: "" } }, cluster: echo }
filters:
  - { name: stamp, module: ${JSON.stringify(STAMP)}, config: { tag: t0 } }
log: { level: info, access: off }
drain: { timeoutMs: 3000 }
`)
  const gw = await spawnGateway(file, ['triple', 'admin'], {}, ['--workers', String(count)])
  t.teardown(() => { killAll(gw) })
  return { dir, gw, echo }
}

/** SIGKILL the primary and every worker it reported (a killed primary leaves none behind anyway: they see the channel close). */
function killAll (gw: RunningGateway): void {
  for (const r of gw.logs) if (r.msg === 'worker ready' && typeof r.pid === 'number') { try { process.kill(r.pid, 'SIGKILL') } catch {} }
  gw.child.kill('SIGKILL')
}

export async function admin (gw: RunningGateway, method: string, path: string, body?: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const r = await httpJson(gw.ports.admin, method, path, body, { authorization: `Bearer ${TOKEN}` })
  return { status: r.status, body: r.body as Record<string, unknown> }
}

export async function config (gw: RunningGateway): Promise<{ generation: number, workers: WorkerInfo[], tag: string }> {
  const r = await admin(gw, 'GET', '/v1/config')
  const cfg = r.body.config as { filters: Array<{ name: string, config: { tag: string } }> }
  return { generation: r.body.generation as number, workers: r.body.workers as WorkerInfo[], tag: cfg.filters[0].config.tag }
}

/** Poll until `cond` holds (generous bound: this is not a timing assertion). */
export async function until<T> (what: string, fn: () => Promise<T> | T, cond: (v: T) => boolean, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (cond(v)) return v
    if (Date.now() > deadline) throw new Error(`${what}: not reached; last: ${JSON.stringify(v)}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

export interface Stamped { pid: string, tag: string }
export async function call (client: EchoClient, req: { message?: string, delayMs?: number } = { message: 'x' }): Promise<Stamped> {
  const r = await unary(client, req)
  return { pid: String(r.headers.get('x-worker')[0]), tag: String(r.headers.get('x-tag')[0]) }
}

/**
 * Clients until every worker pid has at least one (round-robin accept spreads connections);
 * each client keeps its one HTTP/2 connection, so the worker that served it stays its worker.
 */
export async function clientsOnEveryWorker (t: ExecutionContext, gw: RunningGateway, pids: string[], perWorker = 2): Promise<Array<{ client: EchoClient, pid: string }>> {
  const out: Array<{ client: EchoClient, pid: string }> = []
  for (let i = 0; i < 40 && !pids.every(p => out.filter(c => c.pid === p).length >= perWorker); i++) {
    // Its own connection: grpc-js shares one per target across clients by default.
    const client = echoClient(gw.ports.triple, { 'grpc.use_local_subchannel_pool': 1 })
    t.teardown(() => client.close())
    const s = await call(client)
    out.push({ client, pid: s.pid })
  }
  return out
}

export interface Load { ok: number, failures: Array<{ pid: string, error: string }>, servedBy: Map<string, number>, stop (): Promise<void> }

/** `loops` unary loops per client until stop(); failures keep the pid the client was on. */
export function load (clients: Array<{ client: EchoClient, pid: string }>, loops = 2): Load {
  let running = true
  const l: Load = { ok: 0, failures: [], servedBy: new Map(), stop: async () => { running = false; await Promise.all(all) } }
  const loop = async (c: { client: EchoClient, pid: string }): Promise<void> => {
    while (running) {
      try {
        const s = await call(c.client)
        l.ok++
        l.servedBy.set(s.pid, (l.servedBy.get(s.pid) ?? 0) + 1)
      } catch (err) {
        l.failures.push({ pid: c.pid, error: `${(err as grpc.ServiceError).code}: ${(err as Error).message}` })
      }
    }
  }
  const all = clients.flatMap(c => Array.from({ length: loops }, () => loop(c)))
  return l
}

/** Sum of every series of `name` in a Prometheus text. */
export function total (text: string, name: string): number {
  let n = 0
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line)
    if (m !== null && m[1] === name) n += Number(m[3])
  }
  return n
}
