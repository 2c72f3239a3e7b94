/**
 * The data plane of one process: the compile dependencies, upstream pools, health checks and
 * the Triple and Bolt listeners, with the one `swap` every new snapshot goes through. The
 * single-process gateway (start.ts) and each worker (worker-main.ts) build one; the primary
 * of a multi-worker gateway (primary.ts) builds none.
 */
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { TlsMaterial } from '../../certs/tls-material.js'
import type { Cluster } from '../cluster/cluster.js'
import { HealthChecker } from '../cluster/health-checker.js'
import { HostRegistry } from '../cluster/host.js'
import { compileSnapshot, droppedHosts, type CompileDeps } from '../config/compile.js'
import type { GatewayOptions, TlsOptions } from '../config/options.js'
import { retiredFilters, SnapshotRef, type Snapshot } from '../config/snapshot.js'
import type { Filter } from '../chain/filter-api.js'
import { TripleListener } from '../listener/triple-listener.js'
import { BoltListener } from '../listener/bolt-listener.js'
import { BoltPoolRegistry, type BoltTlsFactory } from '../upstream/bolt-pool.js'
import { H2PoolRegistry, type ClusterTls } from '../upstream/h2-pool-registry.js'

export interface DataPlaneOptions {
  logger: Logger
  baseDir: string
  nodeId: string
}

export interface DataAddresses { triple?: AddressInfo, bolt?: AddressInfo }

const POOL_GRACE_MS = 2000

export class DataPlane {
  readonly hosts = new HostRegistry()
  readonly deps: CompileDeps
  readonly logger: Logger
  readonly addresses: DataAddresses = {}
  /** Set by install(); the live snapshot every new call reads. */
  ref: SnapshotRef | null = null
  readonly #options: Readonly<GatewayOptions>
  readonly #baseDir: string
  #revision = 1
  readonly #tlsMaterials: TlsMaterial[] = []
  readonly #clusterTls = new Map<string, { key: string, tls: ClusterTls, m: TlsMaterial }>()
  readonly #pools: H2PoolRegistry
  readonly #health: HealthChecker
  readonly #boltPools: BoltPoolRegistry
  readonly #boltPoolIds = new Set<string>()
  #retireTimer: NodeJS.Timeout | null = null
  #triple: TripleListener | null = null
  #bolt: BoltListener | null = null
  #drainPromise: Promise<void> | null = null
  #closing: Promise<void> | null = null

  /** `options` gives the listeners and the drain bound (read once, at start). */
  constructor (options: Readonly<GatewayOptions>, o: DataPlaneOptions) {
    this.#options = options
    this.#baseDir = o.baseDir
    this.logger = o.logger
    this.deps = { hosts: this.hosts, logger: o.logger, baseDir: o.baseDir, nodeId: o.nodeId }
    const tlsFor = (c: Cluster): ClusterTls | null => c.options.tls === undefined ? null : this.#clusterTlsEntry(c.name, c.options.tls).tls
    // Bolt dials per connection with the current material (clientOptions() checks peerIdentity),
    // then runs the same peer check as Triple (chain, entity-bound CAs, identity).
    const boltTlsFor: BoltTlsFactory = (c) => {
      if (c.tls === undefined) return null
      const { m } = this.#clusterTlsEntry(c.name, c.tls)
      const expected = c.tls.peerIdentity
      return { options: m.clientOptions(), verify: expected === undefined ? null : (socket) => m.checkPeerIdentity(socket, expected) }
    }
    this.#pools = new H2PoolRegistry(o.logger, tlsFor)
    this.#health = new HealthChecker(o.logger)
    this.#boltPools = new BoltPoolRegistry({ logger: o.logger, tls: boltTlsFor })
  }

  /** Compile options into a new revision, reusing what did not change from `previous` (default: live). */
  compile (options: Readonly<GatewayOptions>, previous?: Snapshot): Promise<Snapshot> {
    return compileSnapshot(options, ++this.#revision, this.deps, this.ref?.current ?? previous)
  }

  material (tls: TlsOptions | undefined, name: string): TlsMaterial | null {
    if (tls === undefined) return null
    const m = new TlsMaterial(tls, { baseDir: this.#baseDir, logger: this.logger, name })
    this.#tlsMaterials.push(m)
    return m
  }

  /** Install the first snapshot (before listen). */
  install (first: Snapshot): SnapshotRef {
    const ref = new SnapshotRef(first)
    this.ref = ref
    this.#health.update(ref.current.clusters.values())
    for (const c of ref.current.clusters.values()) for (const h of c.hosts) this.#boltPoolIds.add(h.id)
    return ref
  }

  /** One swap for every new revision: calls in flight keep the snapshot they started on. */
  swap (snap: Snapshot): void {
    const ref = this.ref as SnapshotRef
    const old = ref.current
    ref.current = snap
    // Calls that read the old snapshot may still open streams to a dropped host: retire
    // pools only after a grace period, against whatever snapshot is live then (admin).
    // (admin perf) one pending retirement covers every swap until it runs: it walks all
    // hosts, and one-host deltas arrive many times a second.
    if (this.#retireTimer === null) this.#retireTimer = setTimeout(() => { this.#retireTimer = null; this.#retirePools() }, POOL_GRACE_MS).unref()
    this.#health.swap(old, snap)
    // (admin perf) only the hosts of changed clusters are looked at; only filters the new
    // revision does not reuse are closed.
    this.hosts.forget(droppedHosts(old, snap))
    // Calls that started on the old revision may still run its filters: close them later.
    setTimeout(closeFilters, this.#options.drain.timeoutMs, retiredFilters(old, snap), this.logger).unref()
  }

  /** Open the configured data listeners. */
  async listen (onListening: (listener: 'triple' | 'bolt', a: AddressInfo, tls: boolean) => void): Promise<DataAddresses> {
    const l = this.#options.listeners
    const ref = this.ref as SnapshotRef
    if (l.triple !== undefined) {
      this.#triple = new TripleListener(l.triple, { snapshot: ref, logger: this.logger, pools: this.#pools, tls: this.material(l.triple.tls, 'triple') })
      this.addresses.triple = await this.#triple.listen()
      onListening('triple', this.addresses.triple, l.triple.tls !== undefined)
    }
    if (l.bolt !== undefined) {
      const boltTls = this.material(l.bolt.tls, 'bolt')
      this.#bolt = new BoltListener(l.bolt, { snapshot: ref, logger: this.logger, pools: this.#boltPools, tls: boltTls?.secureContextOptions() ?? null })
      // Reload on file change; refuse certs from a CA bound to another entity.
      boltTls?.attach(this.#bolt.server as import('node:tls').Server)
      this.addresses.bolt = await this.#bolt.listen()
      onListening('bolt', this.addresses.bolt, l.bolt.tls !== undefined)
    }
    return this.addresses
  }

  get draining (): boolean { return this.#drainPromise !== null }

  /** Stop accepting, GOAWAY, finish in-flight calls (up to drain.timeoutMs). */
  drain (): Promise<void> {
    if (this.#drainPromise !== null) return this.#drainPromise
    const timeoutMs = this.#options.drain.timeoutMs
    this.logger.info({ timeoutMs }, 'draining')
    this.#drainPromise = Promise.all([
      this.#triple?.close(timeoutMs),
      this.#bolt?.close(timeoutMs),
    ]).then(() => { this.logger.info('drained') })
    return this.#drainPromise
  }

  /** Drain, then close pools, health checks, TLS watchers and the live filters. Idempotent. */
  close (): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closing = (async () => {
      await this.drain()
      this.#health.close()
      await this.#pools.close(this.#options.drain.timeoutMs)
      await this.#boltPools.close(this.#options.drain.timeoutMs)
      for (const m of this.#tlsMaterials) m.close()
      if (this.ref !== null) closeFilters(this.ref.current.filters, this.logger)
    })()
    return this.#closing
  }

  /** Start-up failed: drop everything at once. */
  destroy (): void {
    this.#triple?.destroy()
    this.#bolt?.destroy()
    this.#pools.destroy()
    this.#boltPools.destroy()
    this.#health.close()
    for (const m of this.#tlsMaterials) m.close()
  }

  // One TlsMaterial per cluster `tls` block, shared by its HTTP/2 and Bolt pools.
  #clusterTlsEntry (name: string, t: TlsOptions): { tls: ClusterTls, m: TlsMaterial } {
    const key = JSON.stringify(t)
    const hit = this.#clusterTls.get(name)
    if (hit !== undefined && hit.key === key) return hit
    hit?.m.close() // stop watching the old files; pools built on it keep its last material
    const m = this.material(t, `cluster ${name}`)!
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
    this.#clusterTls.set(name, entry)
    return entry
  }

  #retirePools (): void {
    const ref = this.ref as SnapshotRef
    this.#pools.retain(ref.current.clusters)
    // Bolt pools of hosts no live cluster uses any more (Host ids outlive snapshots).
    const live = new Set<string>()
    for (const c of ref.current.clusters.values()) for (const h of c.hosts) live.add(h.id)
    const dropped: string[] = []
    for (const c of ref.current.clusters.values()) for (const h of c.hosts) this.#boltPoolIds.add(h.id)
    for (const id of this.#boltPoolIds) if (!live.has(id)) { dropped.push(id); this.#boltPoolIds.delete(id) }
    this.#boltPools.closeHosts(dropped)
  }
}

export function closeFilters (filters: readonly Filter[], logger: Logger): void {
  for (const f of filters) {
    try {
      const r = f.close?.()
      if (r !== undefined) r.catch((err: unknown) => logger.warn({ err }, 'filter close failed'))
    } catch (err) {
      logger.warn({ err }, 'filter close failed')
    }
  }
}
