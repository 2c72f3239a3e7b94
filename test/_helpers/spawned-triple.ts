/**
 * A gateway run as its own process (the compiled CLI) for hostile-client tests on the Triple
 * listener: a crash shows as an exit, and metrics belong to this gateway alone.
 */
import type { ExecutionContext } from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnGateway, type RunningGateway } from './cli.js'
import { metricsText } from './http.js'

export interface SpawnedTriple {
  readonly gw: RunningGateway
  readonly port: number
  readonly adminPort: number
  /** The process is still running. */
  alive (): boolean
  /** Value of one Prometheus sample (0 when absent). */
  metric (name: string, labels?: Record<string, string>): Promise<number>
  stderr (): string
}

// A worker ava kills on a timeout runs no teardown: take the gateways down with it.
const running = new Set<RunningGateway>()
process.once('exit', () => { for (const g of running) g.child.kill('SIGKILL') })

export async function spawnTriple (t: ExecutionContext, config: Record<string, unknown>): Promise<SpawnedTriple> {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-hostile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'config.json')
  writeFileSync(file, JSON.stringify(config))
  const gw = await spawnGateway(file, ['triple', 'admin'])
  running.add(gw)
  void gw.exited.then(() => running.delete(gw))
  let err = ''
  gw.child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  t.teardown(() => { if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL') })
  const adminPort = gw.ports.admin
  return {
    gw,
    port: gw.ports.triple,
    adminPort,
    alive: () => gw.child.exitCode === null && gw.child.signalCode === null,
    metric: async (name, labels = {}) => metricValue(await metricsText(adminPort), name, labels),
    stderr: () => err,
  }
}

export function metricValue (text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    const brace = line.indexOf('{')
    const labelText = brace === -1 ? '' : line.slice(brace + 1, line.indexOf('}'))
    const have = new Map<string, string>()
    for (const m of labelText.matchAll(/(\w+)="([^"]*)"/g)) have.set(m[1], m[2])
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

/** Poll `cond` until it holds; fails after `timeoutMs` (generous: no timing assertions). */
export async function eventually (cond: () => boolean | Promise<boolean>, timeoutMs = 20000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return true
    if (Date.now() > end) return false
    await new Promise(resolve => setTimeout(resolve, stepMs))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
