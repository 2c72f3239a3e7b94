import { hostname } from 'node:os'
import type { AddressInfo } from 'node:net'
import pino, { type Logger } from 'pino'
import { TlsMaterial } from '../../certs/tls-material.js'
import { startAdminServer, type AdminServer } from '../../admin/server.js'
import { AdminStore } from '../../admin/store.js'
import { redisReplicator } from '../../admin/replication.js'
import { resolve as resolvePath } from 'node:path'
import { setHookErrorHandler, setResumeErrorHandler } from '../chain/runner.js'
import { describeThrown, setUserModuleFailureLog, USER_MODULE_FAILED_MSG } from '../chain/user-module.js'
import type { Cluster } from '../cluster/cluster.js'
import { HealthChecker } from '../cluster/health-checker.js'
import { HostRegistry } from '../cluster/host.js'
import { compileSnapshot, droppedHosts, type CompileDeps } from '../config/compile.js'
import type { GatewayOptions, TlsOptions } from '../config/options.js'
import { retiredFilters, SnapshotRef, type Snapshot } from '../config/snapshot.js'
import type { Filter } from '../chain/filter-api.js'
import { IsthmusError } from '../errors.js'
import { TripleListener } from '../listener/triple-listener.js'
import { BoltListener } from '../listener/bolt-listener.js'
import { BoltPoolRegistry, type BoltTlsFactory } from '../upstream/bolt-pool.js'
import { setAccessLogLevel } from '../proxy/proxied-call.js'
import { H2PoolRegistry, type ClusterTls } from '../upstream/h2-pool-registry.js'
import { createReload, type Reload } from './reload.js'

export interface StartOptions {
  /** Directory relative paths in the config resolve against. */
  baseDir: string
  logger?: Logger
  /** Replica id (sharding); default `nodeId` from config, then POD_IP / hostname. */
  nodeId?: string
  env?: NodeJS.ProcessEnv
  /** The config file a reload (SIGHUP, POST /v1/reload) re-reads; without one, reload is refused. */
  configFile?: string
}

export interface GatewayAddresses {
  triple?: AddressInfo
  bolt?: AddressInfo
  admin: AddressInfo
}

/** A running gateway process (the composition root: the only room that knows every side). */
export interface Gateway {
  readonly addresses: GatewayAddresses
  readonly snapshot: SnapshotRef
  readonly logger: Logger
  /** The admin config store (pushed resources, persisted state, Redis replication). */
  readonly store: AdminStore
  /** Compile options into a new revision and swap it in (admin writes go through this). */
  apply (options: Readonly<GatewayOptions>): Promise<Snapshot>
  /** Re-read the config file and apply it like an admin write (gateway/lifecycle/reload.ts). */
  reload: Reload
  /** Stop accepting, GOAWAY, finish in-flight calls (up to drain.timeoutMs). Keeps admin up. */
  drain (): Promise<void>
  /** Drain, then close admin, pools and timers. Idempotent. */
  close (): Promise<void>
}

export async function startGateway (options: Readonly<GatewayOptions>, o: StartOptions): Promise<Gateway> {
  const env = o.env ?? process.env
  const logger = o.logger ?? pino({ level: options.log.level, base: { entity: options.entity } })
  const nodeId = o.nodeId ?? options.nodeId ?? env.POD_IP ?? env.HOSTNAME ?? hostname()
  setAccessLogLevel(options.log.access)
  setHookErrorHandler((call, filter, err) => {
    logger.error({ filter, svc: call.service, err: err instanceof Error ? err.message : String(err) }, 'filter hook failed')
  })
  // --- filter-failure wiring (admin/config engineer): a user filter module's failure outside
  // a call (a timer, an unhandled rejection) is logged here (bounded) and counted; a throw while
  // resuming a call after an async hook fails that call (chain/user-module.ts, runner.ts).
  setUserModuleFailureLog((m, err, origin, more) => {
    logger.error({ filter: [...m.names], file: m.file, origin, err: describeThrown(err), more }, USER_MODULE_FAILED_MSG)
  })
  setResumeErrorHandler((call, err) => {
    logger.error({ svc: call.service, err }, 'call failed after an async filter')
  })
  // --- end filter-failure wiring

  const hosts = new HostRegistry()
  const deps: CompileDeps = { hosts, logger, baseDir: o.baseDir, nodeId }
  let revision = 1
  // (admin perf) compiles reuse the parts of the live snapshot that did not change.
  let live: SnapshotRef | undefined
  // --- admin store wiring (admin engineer): restore persisted state (and bootstrap from
  // Redis when configured) before any listener opens; admin writes compile here and swap
  // through `swap` below.
  const store = await AdminStore.open({
    baseOptions: options,
    statePath: options.state === undefined ? undefined : resolvePath(o.baseDir, options.state),
    logger,
    nodeId,
    compile: (next, _revision, previous) => compileSnapshot(next, ++revision, deps, live?.current ?? previous),
    apply: (snap) => { swap(snap) },
    historyRecords: options.listeners.admin.console?.historyRecords,
    onHostsDropped: (ids) => { logger.debug({ hosts: ids.length }, 'hosts dropped by an admin change') },
    replicator: options.redis === undefined ? undefined : redisReplicator({ url: options.redis.url, keyPrefix: options.redis.keyPrefix, nodeId, logger, password: redisPassword(options.redis.passwordEnv, env) }),
  })
  const ref = new SnapshotRef(store.snapshot)
  live = ref
  // --- end admin store wiring
  // --- config reload: the file's options become the store's new base (pushed resources stay).
  const reload: Reload = o.configFile === undefined
    ? () => Promise.reject(new IsthmusError('ISTH_ERR_CONFIG_READ', 'this gateway was started without a config file: nothing to reload'))
    : createReload({
      file: o.configFile, store, logger,
      // log.level applies to the logger made from it (an embedder's own logger keeps its level).
      applyLive: (next) => { if (o.logger === undefined) logger.level = next.log.level; setAccessLogLevel(next.log.access) },
    })

  const tlsMaterials: TlsMaterial[] = []
  const material = (tls: TlsOptions | undefined, name: string): TlsMaterial | null => {
    if (tls === undefined) return null
    const m = new TlsMaterial(tls, { baseDir: o.baseDir, logger, name })
    tlsMaterials.push(m)
    return m
  }

  // One TlsMaterial per cluster `tls` block, shared by its HTTP/2 and Bolt pools.
  const clusterTls = new Map<string, { key: string, tls: ClusterTls, m: TlsMaterial }>()
  const clusterTlsEntry = (name: string, t: TlsOptions): { tls: ClusterTls, m: TlsMaterial } => {
    const key = JSON.stringify(t)
    const hit = clusterTls.get(name)
    if (hit !== undefined && hit.key === key) return hit
    hit?.m.close() // stop watching the old files; pools built on it keep its last material
    const m = material(t, `cluster ${name}`)!
    m.watch()
    const expected = t.peerIdentity
    const tls: ClusterTls = {
      options: m.liveClientOptions(), // cert/key read at each dial: new sessions use a rotated client cert
      verify: expected === undefined
        ? null
        : (session) => {
            const socket = session.socket as unknown as import('node:tls').TLSSocket
            return m.checkPeerIdentity(socket, expected)
          },
    }
    const entry = { key, tls, m }
    clusterTls.set(name, entry)
    return entry
  }
  const tlsFor = (c: Cluster): ClusterTls | null => c.options.tls === undefined ? null : clusterTlsEntry(c.name, c.options.tls).tls
  // Bolt dials per connection with the current material (clientOptions() checks peerIdentity),
  // then runs the same peer check as Triple (chain, entity-bound CAs, identity).
  const boltTlsFor: BoltTlsFactory = (c) => {
    if (c.tls === undefined) return null
    const { m } = clusterTlsEntry(c.name, c.tls)
    const expected = c.tls.peerIdentity
    return { options: m.clientOptions(), verify: expected === undefined ? null : (socket) => m.checkPeerIdentity(socket, expected) }
  }
  const pools = new H2PoolRegistry(logger, tlsFor)
  const health = new HealthChecker(logger)
  health.update(ref.current.clusters.values())
  const boltPools = new BoltPoolRegistry({ logger, tls: boltTlsFor })
  const boltPoolIds = new Set<string>()
  const retirePools = (): void => {
    pools.retain(ref.current.clusters)
    // Bolt pools of hosts no live cluster uses any more (Host ids outlive snapshots).
    const live = new Set<string>()
    for (const c of ref.current.clusters.values()) for (const h of c.hosts) live.add(h.id)
    const dropped: string[] = []
    for (const c of ref.current.clusters.values()) for (const h of c.hosts) boltPoolIds.add(h.id)
    for (const id of boltPoolIds) if (!live.has(id)) { dropped.push(id); boltPoolIds.delete(id) }
    boltPools.closeHosts(dropped)
  }
  for (const c of ref.current.clusters.values()) for (const h of c.hosts) boltPoolIds.add(h.id)
  let retireTimer: NodeJS.Timeout | null = null
  // One swap for every new revision (gateway.apply and admin store writes).
  const swap = (snap: Snapshot): void => {
    const old = ref.current
    ref.current = snap
    // Calls that read the old snapshot may still open streams to a dropped host: retire
    // pools only after a grace period, against whatever snapshot is live then (admin).
    // (admin perf) one pending retirement covers every swap until it runs: it walks all
    // hosts, and one-host deltas arrive many times a second.
    if (retireTimer === null) retireTimer = setTimeout(() => { retireTimer = null; retirePools() }, POOL_GRACE_MS).unref()
    health.update(snap.clusters.values())
    // (admin perf) only the hosts of changed clusters are looked at; only filters the new
    // revision does not reuse are closed.
    hosts.forget(droppedHosts(old, snap))
    // Calls that started on the old revision may still run its filters: close them later.
    setTimeout(closeFilters, options.drain.timeoutMs, retiredFilters(old, snap), logger).unref()
  }

  const l = options.listeners
  let triple: TripleListener | null = null
  let bolt: BoltListener | null = null
  const addresses: Partial<GatewayAddresses> = {}
  let draining = false
  let drainPromise: Promise<void> | null = null
  let admin: AdminServer | null = null

  try {
    if (l.triple !== undefined) {
      triple = new TripleListener(l.triple, { snapshot: ref, logger, pools, tls: material(l.triple.tls, 'triple') })
      addresses.triple = await triple.listen()
      logger.info({ listener: 'triple', address: addresses.triple.address, port: addresses.triple.port, tls: l.triple.tls !== undefined }, 'listening')
    }
    if (l.bolt !== undefined) {
      const boltTls = material(l.bolt.tls, 'bolt')
      bolt = new BoltListener(l.bolt, { snapshot: ref, logger, pools: boltPools, tls: boltTls?.secureContextOptions() ?? null })
      // Reload on file change; refuse certs from a CA bound to another entity.
      boltTls?.attach(bolt.server as import('node:tls').Server)
      addresses.bolt = await bolt.listen()
      logger.info({ listener: 'bolt', address: addresses.bolt.address, port: addresses.bolt.port, tls: l.bolt.tls !== undefined }, 'listening')
    }
    const adminTls = material(l.admin.tls, 'admin')
    const drain = (): Promise<void> => {
      if (drainPromise !== null) return drainPromise
      draining = true
      logger.info({ timeoutMs: options.drain.timeoutMs }, 'draining')
      drainPromise = Promise.all([
        triple?.close(options.drain.timeoutMs),
        bolt?.close(options.drain.timeoutMs),
      ]).then(() => { logger.info('drained') })
      return drainPromise
    }
    admin = await startAdminServer({
      logger,
      options: l.admin,
      tls: adminTls?.secureContextOptions() ?? null,
      isReady: () => !draining,
      listeners: () => {
        const out: Record<string, { host: string, port: number, tls: boolean }> = {}
        if (addresses.triple !== undefined) out.triple = { host: addresses.triple.address, port: addresses.triple.port, tls: l.triple?.tls !== undefined }
        if (addresses.bolt !== undefined) out.bolt = { host: addresses.bolt.address, port: addresses.bolt.port, tls: l.bolt?.tls !== undefined }
        if (admin !== null) out.admin = { host: admin.address.address, port: admin.address.port, tls: l.admin.tls !== undefined }
        return out
      },
      drain,
      reload,
      store,
      baseDir: o.baseDir,
      env,
      entity: options.entity,
    })
    addresses.admin = admin.address
    // Admin certificates reload like the data listeners' (https.Server is a tls.Server).
    adminTls?.attach(admin.server as unknown as import('node:tls').Server)
    logger.info({ listener: 'admin', address: admin.address.address, port: admin.address.port }, 'listening')

    let closing: Promise<void> | null = null
    const gateway: Gateway = {
      addresses: addresses as GatewayAddresses,
      snapshot: ref,
      logger,
      store,
      async apply (next) {
        const snap = await compileSnapshot(next, ++revision, deps, ref.current)
        swap(snap)
        return snap
      },
      reload,
      drain,
      close () {
        if (closing !== null) return closing
        closing = (async () => {
          await drain()
          await admin?.close()
          await store.close()
          health.close()
          await pools.close()
          await boltPools.close(options.drain.timeoutMs)
          for (const m of tlsMaterials) m.close()
          closeFilters(ref.current.filters, logger)
        })()
        return closing
      },
    }
    return gateway
  } catch (err) {
    triple?.destroy()
    bolt?.destroy()
    pools.destroy()
    boltPools.destroy()
    health.close()
    for (const m of tlsMaterials) m.close()
    await admin?.close()
    await store.close()
    if (err instanceof IsthmusError) throw err
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `cannot listen: ${e.message}`, '/listeners')
    }
    throw err
  }
}

const POOL_GRACE_MS = 2000

function closeFilters (filters: readonly Filter[], logger: Logger): void {
  for (const f of filters) {
    try {
      const r = f.close?.()
      if (r !== undefined) r.catch((err: unknown) => logger.warn({ err }, 'filter close failed'))
    } catch (err) {
      logger.warn({ err }, 'filter close failed')
    }
  }
}

/** The Redis password from the environment variable `redis.passwordEnv` names (never the config file). */
function redisPassword (name: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (name === undefined) return undefined
  const v = env[name]
  if (v === undefined || v === '') throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/redis/passwordEnv: environment variable ${name} is not set`, '/redis/passwordEnv')
  return v
}
