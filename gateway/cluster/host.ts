import type { ClusterOptions, HostOptions } from '../config/options.js'
import { ClusterHealth } from './outlier.js'
import { trackHealth } from './outlier-metrics.js'

/**
 * One upstream endpoint. Host objects are interned by id (address:port) in a HostRegistry,
 * so health state and connection pools survive every cluster update: a new snapshot reuses
 * the Host it had before.
 */
export class Host {
  /** `address:port`. */
  readonly id: string
  readonly address: string
  readonly port: number
  /** Latest labels pushed for this host (snapshots index the labels they were built with). */
  labels: Readonly<Record<string, string>>
  zone: string
  weight: number
  /** Active health check verdict. */
  healthy: boolean
  /** Passive (outlier) ejection: unavailable until this performance.now() time (0: in). */
  ejectedUntil: number
  /** Connect failures / lost connections in a row (cluster/outlier.ts). */
  consecutiveFailures: number
  /** Responses with a failure status in a row. */
  consecutiveStatus: number
  /** Ejections so far (admin API). */
  ejections: number
  /** Ejections not yet decayed: the next one lasts (ejectLevel + 1) x ejectMs. */
  ejectLevel: number
  /** Why the host was last ejected ('' never), and for how long. */
  ejectReason: string
  lastEjectMs: number
  /** Outcomes in the current success-rate interval. */
  windowOk: number
  windowFailed: number
  /** Success rate of the last full interval (-1: too few calls). */
  lastSuccessRate: number
  /** Requests in flight, for least-request balancing. */
  active: number

  constructor (o: HostOptions) {
    this.id = hostId(o.address, o.port)
    this.address = o.address
    this.port = o.port
    this.labels = o.labels !== undefined && Object.isFrozen(o.labels) ? o.labels : Object.freeze({ ...(o.labels ?? {}) })
    this.zone = o.zone ?? ''
    this.weight = o.weight ?? 1
    this.healthy = true
    this.ejectedUntil = 0
    this.consecutiveFailures = 0
    this.consecutiveStatus = 0
    this.ejections = 0
    this.ejectLevel = 0
    this.ejectReason = ''
    this.lastEjectMs = 0
    this.windowOk = 0
    this.windowFailed = 0
    this.lastSuccessRate = -1
    this.active = 0
  }

  isAvailable (now: number): boolean {
    return this.healthy && this.ejectedUntil <= now
  }

  /** A connect succeeded: clears the connect-failure run (the cluster's OutlierDetector
   *  counts call outcomes). */
  recordSuccess (): void {
    this.consecutiveFailures = 0
  }

  update (o: HostOptions): void {
    // A frozen labels object is immutable already: keep it (discovery shares one per label set).
    this.labels = o.labels !== undefined && Object.isFrozen(o.labels) ? o.labels : Object.freeze({ ...(o.labels ?? {}) })
    this.zone = o.zone ?? ''
    this.weight = o.weight ?? 1
  }
}

export function hostId (address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/** Interns hosts by id across snapshots (see Host). */
export class HostRegistry {
  readonly #hosts = new Map<string, Host>()
  readonly #health = new Map<string, ClusterHealth>()

  /** The passive-health state of cluster `o.name` (one per name, kept across revisions). */
  health (o: Readonly<ClusterOptions>): ClusterHealth {
    let h = this.#health.get(o.name)
    if (h === undefined) {
      h = new ClusterHealth(o.name, o.outlier, o.circuitBreakers)
      this.#health.set(o.name, h)
      trackHealth(h)
    }
    return h
  }

  intern (o: HostOptions): Host {
    const id = hostId(o.address, o.port)
    let h = this.#hosts.get(id)
    if (h === undefined) {
      h = new Host(o)
      this.#hosts.set(id, h)
    } else {
      h.update(o)
    }
    return h
  }

  get (id: string): Host | undefined { return this.#hosts.get(id) }

  /** Drop these hosts (no live snapshot holds them: config/compile.ts `droppedHosts`); an id
   *  already interned again as another Host is left alone. */
  forget (hosts: Iterable<Host>): void {
    for (const h of hosts) if (this.#hosts.get(h.id) === h) this.#hosts.delete(h.id)
  }

  /** Drop hosts no live snapshot references; returns the dropped ones (their pools close). */
  retain (live: ReadonlySet<string>): Host[] {
    const dropped: Host[] = []
    for (const [id, h] of this.#hosts) {
      if (!live.has(id)) { this.#hosts.delete(id); dropped.push(h) }
    }
    return dropped
  }

  get size (): number { return this.#hosts.size }
}
