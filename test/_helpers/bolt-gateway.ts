/**
 * Build a gateway with just the Bolt listener for tests: options through validateOptions,
 * a snapshot through compileSnapshot, and a BoltListener on 127.0.0.1:0.
 */
import pino, { type Logger } from 'pino'
import { Writable } from 'node:stream'
import { HostRegistry } from '../../gateway/cluster/host.js'
import { compileSnapshot } from '../../gateway/config/compile.js'
import { validateOptions } from '../../gateway/config/load.js'
import { SnapshotRef } from '../../gateway/config/snapshot.js'
import { BoltListener, type BoltListenerDeps } from '../../gateway/listener/bolt-listener.js'
import { BoltPoolRegistry } from '../../gateway/upstream/bolt-pool.js'

export interface BoltGateway {
  port: number
  listener: BoltListener
  pools: BoltPoolRegistry
  snapshot: SnapshotRef
  /** Parsed log lines at warn and above. */
  logs: Array<Record<string, unknown>>
  close (): Promise<void>
}

export interface GatewaySpec {
  upstreamPort: number
  clusterExtra?: Record<string, unknown>
  routeExtra?: Record<string, unknown>
  routes?: Array<Record<string, unknown>>
  filters?: Array<Record<string, unknown>>
  bolt?: Record<string, unknown>
  /** TLS server options for the Bolt listener (default plaintext). */
  tls?: BoltListenerDeps['tls']
}

export function capturingLogger (): { logger: Logger, logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    },
  })
  return { logger: pino({ level: 'warn' }, sink), logs }
}

export async function startBoltGateway (spec: GatewaySpec): Promise<BoltGateway> {
  const options = validateOptions({
    entity: 'test',
    trustDomain: 'test.local',
    listeners: { bolt: { host: '127.0.0.1', port: 0, ...(spec.bolt ?? {}) }, admin: {} },
    clusters: [{ name: 'up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: spec.upstreamPort }], ...(spec.clusterExtra ?? {}) }],
    routes: spec.routes ?? [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'up', timeoutMs: 5000, ...(spec.routeExtra ?? {}) }],
    filters: spec.filters ?? [],
  })
  const { logger, logs } = capturingLogger()
  const snap = await compileSnapshot(options, 1, { hosts: new HostRegistry(), logger, baseDir: process.cwd(), nodeId: 'test' })
  const snapshot = new SnapshotRef(snap)
  const pools = new BoltPoolRegistry({ logger })
  const listener = new BoltListener(options.listeners.bolt!, { snapshot, logger, pools, tls: spec.tls ?? null })
  const addr = await listener.listen()
  return {
    port: addr.port, listener, pools, snapshot, logs,
    async close () { listener.destroy(); pools.destroy() },
  }
}
