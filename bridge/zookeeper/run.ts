/**
 * Composition of the ZooKeeper bridge: reader -> bridge (catalog, coalescer) -> pusher ->
 * admin client, plus the metrics endpoint. Used by the CLI and by tests that run it in-process.
 */
import pino, { type Logger } from 'pino'
import { AdminClient } from '../admin-client.js'
import { Bridge } from '../bridge.js'
import { BridgeMetrics, startMetricsServer } from '../metrics.js'
import { Pusher } from '../pusher.js'
import type { ZkBridgeOptions } from './cli.js'
import type { ProviderMapping } from './provider-url.js'
import { ZkReader } from './zk-reader.js'

export const OWNER_LABEL = 'bridge'

export interface RunningZkBridge {
  logger: Logger
  bridge: Bridge
  reader: ZkReader
  metrics: BridgeMetrics
  metricsPort: number
  close (): Promise<void>
}

export async function startZookeeperBridge (o: ZkBridgeOptions, logger?: Logger): Promise<RunningZkBridge> {
  const log = logger ?? pino({ level: o.logLevel, base: { component: 'bridge-zookeeper' } })
  const tls = o.tls === undefined ? undefined : { ...AdminClient.readTls(o.tls), servername: o.tls.servername }
  const client = new AdminClient({ url: o.admin, token: o.token, tokenFile: o.tokenFile, tls, tlsFiles: o.tls, timeoutMs: o.adminTimeoutMs, logger: log })
  const metrics = new BridgeMetrics()
  const mapping: ProviderMapping = { params: o.params, labels: o.labels, ownerLabel: [OWNER_LABEL, o.bridgeId] }
  const pusher = new Pusher({ client, logger: log, metrics, ownerLabel: mapping.ownerLabel })
  const exact = new Set(o.services)
  const accept = (s: string): boolean => o.allServices || exact.has(s) || o.prefixes.some(p => s.startsWith(p))
  // The reader and the bridge refer to each other (reads feed the bridge, the coalescer waits
  // for reads): the bridge's busy() closes over the reader, created right after.
  let reader: ZkReader | null = null
  const bridge = new Bridge({
    pusher, metrics, logger: log,
    coalesceMs: o.coalesceMs,
    maxCoalesceMs: Math.max(1000, o.coalesceMs * 10),
    retryBaseMs: 100,
    retryMaxMs: o.retryMaxMs,
    verifyIntervalMs: o.verifyIntervalMs,
    busy: () => reader?.busy() ?? false,
  })
  reader = new ZkReader({
    connect: o.connect, root: o.root, layout: o.layout, sessionTimeoutMs: o.sessionTimeoutMs,
    accept, mapping, logger: log, metrics,
    onAll: (all, reason) => { bridge.replaceAll(all, reason) },
    onService: (s, ps) => { bridge.setService(s, ps) },
  })
  const r = reader
  const server = await startMetricsServer(metrics, {
    ready: () => bridge.ready,
    status: () => ({ layout: r.layout, servicesRoot: r.servicesRoot, zookeeperConnected: metrics.zkConnected === 1, ...bridge.status() }),
  }, o.metricsHost, o.metricsPort).catch(async (err: Error) => {
    await client.close()
    throw new Error(`cannot listen on ${o.metricsHost}:${o.metricsPort} for metrics: ${err.message}`)
  })
  log.info({ host: o.metricsHost, port: server.port }, 'metrics listening')
  reader.start()
  let closing: Promise<void> | null = null
  return {
    logger: log, bridge, reader, metrics, metricsPort: server.port,
    close () {
      closing ??= (async () => {
        r.close()
        await bridge.close()
        await server.close()
        await client.close()
      })()
      return closing
    },
  }
}
