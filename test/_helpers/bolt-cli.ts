/**
 * The compiled CLI as its own process with a Bolt listener, for tests where a crash or a
 * starvation must show: write the config (and any extra files) to a temp dir, start it, and
 * read its /metrics. Killed in teardown.
 */
import type { ExecutionContext } from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnGateway, type RunningGateway } from './cli.js'
import { metricsText } from './http.js'

export interface BoltCli {
  gw: RunningGateway
  bolt: number
  admin: number
  dir: string
  /** Whether the process is still running. */
  alive (): boolean
  /** One sample of /metrics, e.g. metric('isthmus_downstream_connections{listener="bolt"}'); 0 when absent. */
  metric (series: string): Promise<number>
}

export async function startBoltCli (t: ExecutionContext, config: Record<string, unknown>, files: Record<string, string> = {}): Promise<BoltCli> {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-bolt-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  const file = join(dir, 'config.yaml')
  writeFileSync(file, JSON.stringify(config))
  const gw = await spawnGateway(file, ['bolt', 'admin'])
  t.teardown(() => { if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL') })
  const admin = gw.ports.admin
  return {
    gw,
    bolt: gw.ports.bolt,
    admin,
    dir,
    alive: () => gw.child.exitCode === null && gw.child.signalCode === null,
    async metric (series: string): Promise<number> {
      let text: string
      try {
        text = await metricsText(admin)
      } catch (err) {
        // Say whether the gateway is gone, and why: a bare "fetch failed" hides a crash.
        const c = gw.child
        const state = c.exitCode === null && c.signalCode === null ? 'still running' : `exited code=${String(c.exitCode)} signal=${String(c.signalCode)}`
        const last = gw.logs.slice(-5).map(l => JSON.stringify(l)).join(' | ')
        throw new Error(`/metrics unreachable (${(err as Error).message}; cause: ${String((err as { cause?: unknown }).cause)}); gateway ${state}; last logs: ${last}`)
      }
      for (const line of text.split('\n')) if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
      return 0
    },
  }
}

/** A one-cluster Bolt config to 127.0.0.1:`upstreamPort` (merge `extra` at the top level). */
export function boltCliConfig (upstreamPort: number, extra: { bolt?: Record<string, unknown>, cluster?: Record<string, unknown>, route?: Record<string, unknown>, [k: string]: unknown } = {}): Record<string, unknown> {
  const { bolt, cluster, route, ...rest } = extra
  return {
    entity: 'acme',
    listeners: { bolt: { host: '127.0.0.1', port: 0, ...(bolt ?? {}) }, admin: { host: '127.0.0.1', port: 0 } },
    clusters: [{ name: 'up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: upstreamPort }], ...(cluster ?? {}) }],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'up', timeoutMs: 5000, ...(route ?? {}) }],
    log: { level: 'info', access: 'off' },
    ...rest,
  }
}
