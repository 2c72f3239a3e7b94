import type { ClientHttp2Session, SecureClientSessionOptions } from 'node:http2'
import type { Logger } from 'pino'
import { Pool } from 'undici'
import type { Cluster } from '../cluster/cluster.js'
import type { Host } from '../cluster/host.js'
import { H2Pool, type H2PoolOptions } from './h2-pool.js'

/** How a cluster dials TLS: built by certs/ from the cluster's `tls` options. */
export interface ClusterTls {
  readonly options: SecureClientSessionOptions
  /** Returns an error message when the peer's identity is not the expected one. */
  readonly verify: ((session: ClientHttp2Session) => string | null) | null
}

/**
 * Upstream pools for Triple (HTTP/2) and plain HTTP/1.1 clusters, keyed by cluster name and
 * interned Host, so they outlive snapshots: a cluster update that keeps a host keeps its
 * sessions. A pool is rebuilt only when the cluster's transport settings change.
 */
export class H2PoolRegistry {
  readonly #logger: Logger
  readonly #tlsFor: (cluster: Cluster) => ClusterTls | null
  readonly #h2 = new Map<string, { key: string, pools: Map<Host, H2Pool> }>()
  readonly #h1 = new Map<string, { key: string, pools: Map<Host, Pool> }>()
  /** After close/destroy a late caller gets a closed pool: nothing dials a host any more. */
  #closed = false

  constructor (logger: Logger, tlsFor: (cluster: Cluster) => ClusterTls | null = () => null) {
    this.#logger = logger
    this.#tlsFor = tlsFor
  }

  h2 (cluster: Cluster, host: Host): H2Pool {
    const pools = entryFor(this.#h2, cluster)
    let pool = pools.get(host)
    if (pool === undefined) {
      const u = cluster.options.upstream
      const tls = this.#tlsFor(cluster)
      const opts: H2PoolOptions = {
        maxConcurrentStreams: u.maxConcurrentStreams,
        maxSessions: u.maxConnections,
        connectTimeoutMs: u.connectTimeoutMs,
        maxPending: u.maxPending,
        pendingTimeoutMs: u.pendingTimeoutMs,
        tls: tls?.options ?? null,
        verifyPeer: tls?.verify ?? null,
      }
      pool = new H2Pool(host, opts, this.#logger)
      if (this.#closed) { pool.destroy(); return pool }
      pools.set(host, pool)
    }
    pool.health = cluster.health
    return pool
  }

  /** undici pool for an HTTP/1.1 cluster host (used when the downstream is HTTP/2). */
  h1 (cluster: Cluster, host: Host): Pool {
    const pools = entryFor(this.#h1, cluster)
    let pool = pools.get(host)
    if (pool === undefined) {
      const u = cluster.options.upstream
      const tls = this.#tlsFor(cluster)
      pool = new Pool(`${tls !== null ? 'https' : 'http'}://${host.id}`, {
        connections: u.maxConnections,
        pipelining: 1,
        connectTimeout: u.connectTimeoutMs,
        connect: tls !== null ? { ...(tls.options as object) } : undefined,
      })
      if (this.#closed) { void pool.destroy(); return pool }
      pools.set(host, pool)
    }
    return pool
  }

  /**
   * Close pools of hosts or clusters that are gone from the snapshot (graceful: in-flight
   * streams finish first). Called by lifecycle after each swap.
   */
  retain (clusters: ReadonlyMap<string, Cluster>): void {
    for (const map of [this.#h2, this.#h1] as const) {
      for (const [name, entry] of map) {
        const c = clusters.get(name)
        if (c === undefined) {
          for (const p of entry.pools.values()) void p.close()
          map.delete(name)
          continue
        }
        const live = new Set<Host>(c.hosts)
        for (const [host, p] of entry.pools) {
          if (!live.has(host)) { void p.close(); entry.pools.delete(host) }
        }
      }
    }
  }

  /** Graceful, bounded: sessions still open `graceMs` after close are destroyed. */
  async close (graceMs?: number): Promise<void> {
    this.#closed = true
    const all: Array<Promise<unknown>> = []
    for (const e of this.#h2.values()) for (const p of e.pools.values()) all.push(p.close(graceMs))
    for (const e of this.#h1.values()) for (const p of e.pools.values()) all.push(p.close())
    this.#h2.clear()
    this.#h1.clear()
    await Promise.allSettled(all)
  }

  destroy (): void {
    this.#closed = true
    for (const e of this.#h2.values()) for (const p of e.pools.values()) p.destroy()
    for (const e of this.#h1.values()) for (const p of e.pools.values()) void p.destroy()
    this.#h2.clear()
    this.#h1.clear()
  }

  get sessionCount (): number {
    let n = 0
    for (const e of this.#h2.values()) for (const p of e.pools.values()) n += p.sessionCount
    return n
  }
}

interface Closable { close (): Promise<unknown> }

/** The cluster's pools, started afresh (old ones closed) when its transport settings changed. */
function entryFor<P extends Closable> (map: Map<string, { key: string, pools: Map<Host, P> }>, cluster: Cluster): Map<Host, P> {
  const key = transportKey(cluster)
  let entry = map.get(cluster.name)
  if (entry === undefined || entry.key !== key) {
    if (entry !== undefined) for (const p of entry.pools.values()) void p.close()
    entry = { key, pools: new Map() }
    map.set(cluster.name, entry)
  }
  return entry.pools
}

const keys = new WeakMap<Cluster, string>()
function transportKey (c: Cluster): string {
  let k = keys.get(c)
  if (k === undefined) {
    k = JSON.stringify([c.protocol, c.options.upstream, c.options.tls ?? null])
    keys.set(c, k)
  }
  return k
}
