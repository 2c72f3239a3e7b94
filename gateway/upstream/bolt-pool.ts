import { performance } from 'node:perf_hooks'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import type { Host } from '../cluster/host.js'
import { FailureClass, type ClusterHealth } from '../cluster/outlier.js'
import type { ClusterOptions } from '../config/options.js'
import { BoltConnection, type BoltConnectionOwner } from './bolt-connection.js'

/** Reconnect back-off after failed connects: random 0–1 s, then 1, 2, 5, 10 s (MOSN). */
const BACKOFF_MS = [1000, 2000, 5000, 10000]
export function reconnectDelay (attempt: number, random: () => number = Math.random): number {
  if (attempt <= 0) return 0
  if (attempt === 1) return Math.floor(random() * 1000)
  return BACKOFF_MS[Math.min(attempt - 2, BACKOFF_MS.length - 1)]
}

/** TLS for dialing one cluster: client options, and a peer check run after each handshake. */
export interface BoltClusterTls {
  readonly options: ConnectionOptions
  /** null to accept the connected peer, else why it is refused (e.g. a wrong SPIFFE identity). */
  readonly verify: ((socket: TLSSocket) => string | null) | null
}

/** Builds TLS for a cluster (certs/ owns the files), called per new connection; null for plaintext. */
export type BoltTlsFactory = (cluster: Readonly<ClusterOptions>, host: Host) => BoltClusterTls | null

/**
 * The upstream connections of one Host: up to `maxConnections`, each multiplexing many
 * requests. A request goes to the least-loaded usable connection; a new one opens when all
 * carry `maxConcurrentStreams` or more. With `maxConnections` usable connections all at that
 * cap the pool is full: the request is refused (ISTH_ERR_UPSTREAM_OVERLOADED) rather than
 * queued without bound. After a connect failure no new connect is tried until the back-off
 * delay passes; requests meanwhile fail fast (ISTH_ERR_UPSTREAM_CONNECT).
 */
export class BoltPool implements BoltConnectionOwner {
  readonly host: Host
  options: Readonly<ClusterOptions>
  /** Outlier detection and breakers of the cluster that last used this pool. */
  health: ClusterHealth | null = null
  #closed = false
  readonly #tls: BoltTlsFactory | null
  readonly #logger: Logger | null
  readonly conns: BoltConnection[] = []
  #failedConnects = 0
  #retryAt = 0
  /** Why the last connect failed (shown to callers failed fast during the back-off). */
  lastConnectError = ''
  /** Set by acquire() when it returned null because every connection is at its cap. */
  overloaded = false

  constructor (host: Host, options: Readonly<ClusterOptions>, tls: BoltTlsFactory | null, logger: Logger | null) {
    this.host = host
    this.options = options
    this.#tls = tls
    this.#logger = logger
  }

  /**
   * A connection to send on, or null: closed pool, backing off after connect failures, or
   * full (`overloaded` set: every usable connection carries `maxConcurrentStreams`).
   */
  acquire (now: number = performance.now()): BoltConnection | null {
    this.overloaded = false
    if (this.#closed) return null
    const conns = this.conns
    let best: BoltConnection | null = null
    for (let i = 0; i < conns.length; i++) {
      const c = conns[i]
      if (c.usable && (best === null || c.inflight < best.inflight)) best = c
    }
    const up = this.options.upstream
    if (best !== null && best.inflight < up.maxConcurrentStreams) return best
    if (best !== null && this.#usableCount() >= up.maxConnections) { this.overloaded = true; return null }
    // Cannot open another (draining ones still count, bounded; or backing off): full if we
    // have a connection at its cap, else unavailable.
    if (this.conns.length >= up.maxConnections + 2 || now < this.#retryAt) { this.overloaded = best !== null; return null }
    const h = this.health
    if (h !== null && !h.admitConnection()) {
      // The cluster's maxConnections breaker: a busy connection is still better than none.
      if (best !== null) return best
      this.overloaded = true
      return null
    }
    return this.#open()
  }

  #usableCount (): number {
    let n = 0
    for (const c of this.conns) if (c.usable) n++
    return n
  }

  #open (): BoltConnection {
    const up = this.options.upstream
    const tls = this.#tls === null ? null : this.#tls(this.options, this.host)
    const c = new BoltConnection({
      host: this.host.address,
      port: this.host.port,
      connectTimeoutMs: up.connectTimeoutMs,
      heartbeat: up.heartbeat,
      maxRequests: up.maxRequestsPerConnection,
      tls: tls === null ? null : tls.options,
      verifyPeer: tls === null ? null : tls.verify,
      logger: this.#logger,
    }, this)
    const h = this.health
    if (h !== null) { h.connections++; c.countedIn = h }
    this.conns.push(c)
    return c
  }

  onConnectionReady (_c: BoltConnection): void {
    this.#failedConnects = 0
    this.#retryAt = 0
    this.host.recordSuccess()
  }

  /**
   * A connection closed (or got GoAway). A connect failure, or a connection lost with requests
   * in flight, is ONE failure of the host however many requests it carried (one client's bad
   * frame can make a sofa-rpc-node upstream close a connection it shares with many callers:
   * that is one lost connection, not a failure per caller). The calls themselves do not count.
   */
  onConnectionClosed (c: BoltConnection, connected: boolean, lost: number): void {
    if (!c.closed) return // GoAway: the connection drains; nothing failed
    const i = this.conns.indexOf(c)
    if (i >= 0) this.conns.splice(i, 1)
    if (c.countedIn !== null) { c.countedIn.connections--; c.countedIn = null }
    const now = performance.now()
    if (!connected) {
      this.#failedConnects++
      this.lastConnectError = c.lastError === '' ? 'connection closed during connect' : c.lastError
      this.#retryAt = now + reconnectDelay(this.#failedConnects)
      this.health?.failure(this.host, FailureClass.Connect, now)
      this.#logger?.warn({ host: this.host.id, attempt: this.#failedConnects, reason: this.lastConnectError }, 'bolt upstream connect failed')
    } else if (lost > 0 && !this.#closed) {
      this.health?.failure(this.host, FailureClass.Reset, now)
    }
  }

  /** Stop taking requests; connections close when their in-flight requests are answered. */
  close (): void {
    this.#closed = true
    for (const c of this.conns.slice()) c.close()
  }

  destroy (): void {
    this.#closed = true
    for (const c of this.conns.slice()) c.destroy()
  }

  get idle (): boolean {
    for (const c of this.conns) if (c.inflight > 0) return false
    return true
  }
}

/**
 * Pools by Host id, outliving snapshots (a reload keeps connections to hosts it keeps).
 * `closeHosts` closes the pools of hosts an update dropped; `close` drains everything.
 */
export class BoltPoolRegistry {
  readonly #pools = new Map<string, BoltPool>()
  readonly #tls: BoltTlsFactory | null
  readonly #logger: Logger | null

  constructor (opts: { tls?: BoltTlsFactory | null, logger?: Logger | null } = {}) {
    this.#tls = opts.tls ?? null
    this.#logger = opts.logger ?? null
  }

  get (host: Host, options: Readonly<ClusterOptions>, health: ClusterHealth | null = null): BoltPool {
    let p = this.#pools.get(host.id)
    if (p === undefined) {
      p = new BoltPool(host, options, this.#tls, this.#logger)
      this.#pools.set(host.id, p)
    } else if (p.options !== options) {
      p.options = options // a new revision: later connections use its settings
    }
    if (health !== null) p.health = health
    return p
  }

  peek (hostId: string): BoltPool | undefined { return this.#pools.get(hostId) }

  get size (): number { return this.#pools.size }

  closeHosts (ids: Iterable<string>): void {
    for (const id of ids) {
      const p = this.#pools.get(id)
      if (p !== undefined) { this.#pools.delete(id); p.close() }
    }
  }

  /** Drain: stop new requests, wait up to `timeoutMs` for in-flight ones, then destroy. */
  async close (timeoutMs = 5000): Promise<void> {
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    for (const p of pools) p.close()
    const until = performance.now() + timeoutMs
    while (pools.some(p => p.conns.length > 0) && performance.now() < until) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    for (const p of pools) p.destroy()
  }

  destroy (): void {
    for (const p of this.#pools.values()) p.destroy()
    this.#pools.clear()
  }
}
