import { hostname } from 'node:os'
import type { AddressInfo } from 'node:net'
import { resolve as resolvePath } from 'node:path'
import pino, { type Logger } from 'pino'
import type { TlsMaterial } from '../../certs/tls-material.js'
import { startAdminServer, type AdminServer } from '../../admin/server.js'
import { AdminStore } from '../../admin/store.js'
import { redisReplicator } from '../../admin/replication.js'
import { setHookErrorHandler, setResumeErrorHandler } from '../chain/runner.js'
import { describeThrown, setUserModuleFailureLog, USER_MODULE_FAILED_MSG } from '../chain/user-module.js'
import type { GatewayOptions } from '../config/options.js'
import type { SnapshotRef, Snapshot } from '../config/snapshot.js'
import { IsthmusError } from '../errors.js'
import { collectProcessMetrics } from '../metrics.js'
import { setAccessLogLevel } from '../proxy/proxied-call.js'
import { DataPlane } from './data-plane.js'
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
  wireFilterFailureLogs(logger)

  collectProcessMetrics(options.metrics?.eventLoopPrecisionMs)
  const plane = new DataPlane(options, { logger, baseDir: o.baseDir, nodeId })
  // --- admin store wiring (admin engineer): restore persisted state (and bootstrap from
  // Redis when configured) before any listener opens; admin writes compile here and swap
  // through the data plane's `swap`.
  const store = await AdminStore.open({
    baseOptions: options,
    statePath: options.state === undefined ? undefined : resolvePath(o.baseDir, options.state),
    logger,
    nodeId,
    compile: (next, _revision, previous) => plane.compile(next, previous),
    apply: (snap) => { plane.swap(snap) },
    historyRecords: options.listeners.admin.console?.historyRecords,
    onHostsDropped: (ids) => { logger.debug({ hosts: ids.length }, 'hosts dropped by an admin change') },
    replicator: options.redis === undefined ? undefined : redisReplicator({ url: options.redis.url, keyPrefix: options.redis.keyPrefix, nodeId, logger, password: redisPassword(options.redis.passwordEnv, env) }),
  })
  const ref = plane.install(store.snapshot)
  // --- end admin store wiring
  const reload = reloadFor(o, store, logger)

  const l = options.listeners
  const addresses: Partial<GatewayAddresses> = {}
  let admin: AdminServer | null = null
  let adminTls: TlsMaterial | null = null

  try {
    await plane.listen((listener, a, tls) => {
      addresses[listener] = a
      logger.info({ listener, address: a.address, port: a.port, tls }, 'listening')
    })
    adminTls = plane.material(l.admin.tls, 'admin')
    const drain = (): Promise<void> => plane.drain()
    admin = await startAdminServer({
      logger,
      options: l.admin,
      tls: adminTls?.secureContextOptions() ?? null,
      isReady: () => !plane.draining,
      listeners: () => listenerAddresses(l, addresses, admin),
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
        const snap = await plane.compile(next, ref.current)
        plane.swap(snap)
        return snap
      },
      reload,
      drain,
      close () {
        if (closing !== null) return closing
        closing = (async () => {
          await plane.drain()
          await admin?.close()
          await store.close()
          await plane.close()
        })()
        return closing
      },
    }
    return gateway
  } catch (err) {
    plane.destroy()
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

/** Config reload for this process: re-reads `o.configFile` into the store (reload.ts). */
/** What the admin's /ready and the console report of each listener: address and TLS. */
export function listenerAddresses (l: GatewayOptions['listeners'], addresses: Partial<GatewayAddresses>, admin: AdminServer | null): Record<string, { host: string, port: number, tls: boolean }> {
  const out: Record<string, { host: string, port: number, tls: boolean }> = {}
  if (addresses.triple !== undefined) out.triple = { host: addresses.triple.address, port: addresses.triple.port, tls: l.triple?.tls !== undefined }
  if (addresses.bolt !== undefined) out.bolt = { host: addresses.bolt.address, port: addresses.bolt.port, tls: l.bolt?.tls !== undefined }
  if (admin !== null) out.admin = { host: admin.address.address, port: admin.address.port, tls: l.admin.tls !== undefined }
  return out
}

export function reloadFor (o: StartOptions, store: AdminStore, logger: Logger): Reload {
  // --- config reload: the file's options become the store's new base (pushed resources stay).
  return o.configFile === undefined
    ? () => Promise.reject(new IsthmusError('ISTH_ERR_CONFIG_READ', 'this gateway was started without a config file: nothing to reload'))
    : createReload({
      file: o.configFile, store, logger,
      // log.level applies to the logger made from it (an embedder's own logger keeps its level).
      applyLive: (next) => { if (o.logger === undefined) logger.level = next.log.level; setAccessLogLevel(next.log.access) },
    })
}

/** Process-wide handlers for filter failures (single process and each worker). */
export function wireFilterFailureLogs (logger: Logger): void {
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
}

/** The Redis password from the environment variable `redis.passwordEnv` names (never the config file). */
export function redisPassword (name: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (name === undefined) return undefined
  const v = env[name]
  if (v === undefined || v === '') throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/redis/passwordEnv: environment variable ${name} is not set`, '/redis/passwordEnv')
  return v
}
