/**
 * The primary of a multi-worker gateway (`workers: N`, N > 1). It holds the admin API, the
 * admin store (state file, Redis replication) and config reload, and runs no data listener:
 * its workers do (worker-pool.ts, worker-main.ts). An admin write, a reload or a replicated
 * change is compiled here first (validation), then applied to every worker as one numbered
 * generation; it is accepted only when every worker applied it. `/v1/config` lists each
 * worker's generation; `/metrics` sums every worker's metrics with the primary's.
 */
import { availableParallelism, hostname } from 'node:os'
import { resolve as resolvePath } from 'node:path'
import pino from 'pino'
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import { startAdminServer, type AdminServer } from '../../admin/server.js'
import { AdminStore } from '../../admin/store.js'
import { redisReplicator } from '../../admin/replication.js'
import { TlsMaterial } from '../../certs/tls-material.js'
import { HostRegistry } from '../cluster/host.js'
import { compileSnapshot, droppedHosts, type CompileDeps } from '../config/compile.js'
import type { GatewayOptions } from '../config/options.js'
import { retiredFilters, type Snapshot } from '../config/snapshot.js'
import { IsthmusError } from '../errors.js'
import { collectProcessMetrics, registry } from '../metrics.js'
import { setAccessLogLevel } from '../proxy/proxied-call.js'
import { closeFilters } from './data-plane.js'
import { listenerAddresses, reloadFor, redisPassword, wireFilterFailureLogs, type GatewayAddresses, type StartOptions } from './start.js'
import type { Reload } from './reload.js'
import { DEFAULT_WORKER_LIMITS, WorkerPool, type WorkerStatus } from './worker-pool.js'

/** What the command line drives: the single-process Gateway and the primary both are one. */
export interface RunningGateway {
  readonly addresses: GatewayAddresses
  readonly logger: import('pino').Logger
  reload: Reload
  close (): Promise<void>
}

export interface Primary extends RunningGateway {
  readonly store: AdminStore
  workers (): WorkerStatus[]
}

/** `workers` from config or the command line as a count (auto: one per available core). */
export function workerCount (w: number | 'auto' | undefined): number {
  if (w === undefined) return 1
  return w === 'auto' ? Math.max(1, availableParallelism()) : w
}

export async function startPrimary (options: Readonly<GatewayOptions>, count: number, o: StartOptions): Promise<Primary> {
  const env = o.env ?? process.env
  const logger = o.logger ?? pino({ level: options.log.level, base: { entity: options.entity } })
  const nodeId = o.nodeId ?? options.nodeId ?? env.POD_IP ?? env.HOSTNAME ?? hostname()
  if (options.audit.enabled) {
    // One hash-chained trail per gateway: workers writing one directory would fork the chain.
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', '/workers: the audit trail (audit.enabled) runs in one process only: set workers to 1 or turn the trail off', '/workers')
  }
  setAccessLogLevel(options.log.access)
  wireFilterFailureLogs(logger)
  collectProcessMetrics(options.metrics?.eventLoopPrecisionMs)

  // The primary compiles every change too (a bad one is refused before any worker sees it).
  const hosts = new HostRegistry()
  const deps: CompileDeps = { hosts, logger, baseDir: o.baseDir, nodeId }
  let revision = 1
  let live: Snapshot | null = null
  const pool = new WorkerPool({
    count, logger, baseDir: o.baseDir, nodeId,
    limits: { ...DEFAULT_WORKER_LIMITS, ...options.workerLimits },
    drainTimeoutMs: options.drain.timeoutMs,
  })
  const swap = (snap: Snapshot): void => {
    const old = live ?? snap
    live = snap
    hosts.forget(droppedHosts(old, snap))
    setTimeout(closeFilters, options.drain.timeoutMs, retiredFilters(old, snap), logger).unref()
  }
  const store = await AdminStore.open({
    baseOptions: options,
    statePath: options.state === undefined ? undefined : resolvePath(o.baseDir, options.state),
    logger,
    nodeId,
    compile: (next, _revision, previous) => compileSnapshot(next, ++revision, deps, live ?? previous),
    apply: async (snap, opts, generation) => {
      try {
        await pool.apply(generation, structuredClone(opts) as GatewayOptions)
      } catch (err) {
        // Refused: what this compile created that the live snapshot does not use goes.
        if (live !== null) { closeFilters(retiredFilters(snap, live), logger); hosts.forget(droppedHosts(snap, live)) }
        throw err
      }
      swap(snap)
    },
    historyRecords: options.listeners.admin.console?.historyRecords,
    replicator: options.redis === undefined ? undefined : redisReplicator({ url: options.redis.url, keyPrefix: options.redis.keyPrefix, nodeId, logger, password: redisPassword(options.redis.passwordEnv, env) }),
  })
  live = store.snapshot
  const reload = reloadFor(o, store, logger)
  const l = options.listeners
  const addresses: Partial<GatewayAddresses> = {}
  let admin: AdminServer | null = null
  let adminTls: TlsMaterial | null = null
  let draining = false
  try {
    const a = await pool.start(store.generation, structuredClone(store.options) as GatewayOptions)
    for (const name of ['triple', 'bolt'] as const) {
      const x = a[name]
      if (x === undefined) continue
      addresses[name] = x
      logger.info({ listener: name, address: x.address, port: x.port, tls: l[name]?.tls !== undefined, workers: count }, 'listening')
    }
    adminTls = l.admin.tls === undefined ? null : new TlsMaterial(l.admin.tls, { baseDir: o.baseDir, logger, name: 'admin' })
    const drain = async (): Promise<void> => { draining = true; await pool.drain() }
    admin = await startAdminServer({
      logger,
      options: l.admin,
      tls: adminTls?.secureContextOptions() ?? null,
      isReady: () => !draining && pool.anyReady,
      listeners: () => listenerAddresses(l, addresses, admin),
      drain,
      reload,
      store,
      workers: () => pool.status(),
      metrics: async () => {
        const all: MetricObjectWithValues<MetricValue<string>>[][] = await pool.metrics()
        all.push(await registry.getMetricsAsJSON())
        return AggregatorRegistry.aggregate(all).metrics()
      },
      baseDir: o.baseDir,
      env,
      entity: options.entity,
    })
    addresses.admin = admin.address
    adminTls?.attach(admin.server as unknown as import('node:tls').Server)
    logger.info({ listener: 'admin', address: admin.address.address, port: admin.address.port }, 'listening')
  } catch (err) {
    await pool.close()
    await admin?.close()
    adminTls?.close()
    await store.close()
    throw err
  }
  let closing: Promise<void> | null = null
  return {
    addresses: addresses as GatewayAddresses,
    logger,
    store,
    reload,
    workers: () => pool.status(),
    close () {
      if (closing !== null) return closing
      closing = (async () => {
        draining = true
        await pool.close()
        await admin?.close()
        await store.close()
        adminTls?.close()
        if (live !== null) closeFilters(live.filters, logger)
      })()
      return closing
    },
  }
}
