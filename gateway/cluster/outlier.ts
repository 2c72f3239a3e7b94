import type { CircuitBreakerOptions, OutlierOptions } from '../config/options.js'
import { BoltStatus } from '../errors.js'
import type { Host } from './host.js'

/** What failed, for the outlier detector. A caller's cancel or deadline is never one. */
export const FailureClass = { Connect: 0, Reset: 1, Status: 2 } as const
export type FailureClass = typeof FailureClass[keyof typeof FailureClass]

/** Why a host was ejected (metric label). */
export const EJECT_REASONS = ['connect', 'reset', 'status', 'success_rate'] as const
export type EjectReason = typeof EJECT_REASONS[number]

/** Circuit breakers (metric label). */
export const BREAKERS = ['connections', 'pending', 'requests', 'retries'] as const
export const Breaker = { Connections: 0, Pending: 1, Requests: 2, Retries: 3 } as const
export type Breaker = typeof Breaker[keyof typeof Breaker]

const GRPC_CODES: Readonly<Record<string, number>> = {
  UNKNOWN: 2, RESOURCE_EXHAUSTED: 8, ABORTED: 10, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15,
}

/** Options of a cluster built without an `outlier` section (code, not config: ajv fills it). */
export const DEFAULT_OUTLIER: Readonly<OutlierOptions> = Object.freeze({ consecutiveFailures: 3, ejectMs: 10000 })

const NO_BREAKERS: Readonly<CircuitBreakerOptions> = Object.freeze({ maxConnections: 0, maxPending: 0, maxRequests: 0, maxRetries: 0 })

/**
 * Passive health and circuit breakers of one cluster, by name: it outlives snapshots (the
 * HostRegistry keeps one per cluster name; each Cluster built points at it and gives it its
 * hosts and options). Call paths report outcomes here as plain field updates; the success-rate
 * sweep runs on the call path once per `intervalMs` (no timer to own).
 *
 * Ejection state lives on the Host (interned by address), so a host listed by two clusters is
 * ejected for both. The nth ejection not yet decayed lasts n x ejectMs (at most maxEjectMs);
 * every sweep interval a host spends in the cluster decays one. Never more than
 * maxEjectedPercent of the hosts are out at once (one is always allowed, as in Envoy).
 */
export class ClusterHealth {
  readonly name: string
  options: Readonly<OutlierOptions>
  breakers: Readonly<CircuitBreakerOptions>
  hosts: readonly Host[] = []
  /** Calls of this cluster between host choice and their end. */
  active = 0
  /** Triple calls waiting for a stream slot. */
  pending = 0
  /** Calls in flight that were retried. */
  retries = 0
  /** Upstream sessions / connections open to this cluster's hosts. */
  connections = 0
  /** gRPC statuses (bit per code) and Bolt statuses (by byte) counted as failures. */
  grpcMask = 0
  readonly boltFails = new Uint8Array(256)
  // Metric cells (read at scrape time, gateway/cluster/outlier-metrics.ts).
  readonly ejectionsBy = new Float64Array(EJECT_REASONS.length)
  readonly tripsBy = new Float64Array(BREAKERS.length)
  retriesOk = 0
  retriesFailed = 0
  budgetExhausted = 0
  #nextSweep = 0

  constructor (name: string, options: Readonly<OutlierOptions>, breakers?: Readonly<CircuitBreakerOptions>) {
    this.name = name
    this.options = options
    this.breakers = breakers ?? NO_BREAKERS
    this.configure(options, breakers)
  }

  /** A new revision of the cluster: its options and hosts. */
  configure (options: Readonly<OutlierOptions>, breakers?: Readonly<CircuitBreakerOptions>, hosts?: readonly Host[]): void {
    this.options = options
    this.breakers = breakers ?? NO_BREAKERS
    if (hosts !== undefined) this.hosts = hosts
    let mask = 0
    for (const s of options.grpcStatuses ?? ['UNAVAILABLE']) mask |= 1 << (GRPC_CODES[s] ?? 31)
    this.grpcMask = mask & 0x7fffffff
    this.boltFails.fill(0)
    for (const s of options.boltStatuses ?? []) {
      const code = (BoltStatus as Readonly<Record<string, number>>)[s]
      if (code !== undefined) this.boltFails[code] = 1
    }
  }

  /** A response (or connect) the host gave: success. */
  success (host: Host, now: number): void {
    host.consecutiveFailures = 0
    host.consecutiveStatus = 0
    host.windowOk++
    if (now >= this.#nextSweep) this.sweep(now)
  }

  /** A Triple response with gRPC status `status` (never call it for a caller's cancel). */
  grpcOutcome (host: Host, status: number, now: number): void {
    if (status >= 0 && status < 31 && (this.grpcMask & (1 << status)) !== 0) this.failure(host, FailureClass.Status, now)
    else this.success(host, now)
  }

  /** A Bolt response with status `status`. */
  boltOutcome (host: Host, status: number, now: number): void {
    if (this.boltFails[status & 0xff] === 1) this.failure(host, FailureClass.Status, now)
    else this.success(host, now)
  }

  /** A failure of `kind` the host is to blame for. */
  failure (host: Host, kind: FailureClass, now: number): void {
    host.windowFailed++
    const o = this.options
    if (kind === FailureClass.Status) {
      host.consecutiveStatus++
      if (host.consecutiveStatus >= (o.consecutiveStatusFailures ?? 5)) this.eject(host, 'status', now)
    } else {
      host.consecutiveFailures++
      if (host.consecutiveFailures >= o.consecutiveFailures) this.eject(host, kind === FailureClass.Connect ? 'connect' : 'reset', now)
    }
    if (now >= this.#nextSweep) this.sweep(now)
  }

  /** Eject `host` unless it is out already or the cluster is at its max ejected share.
   *  True when ejected. */
  eject (host: Host, reason: EjectReason, now: number): boolean {
    if (host.ejectedUntil > now) return false
    host.consecutiveFailures = 0
    host.consecutiveStatus = 0
    if (!this.mayEject(now)) return false
    const o = this.options
    host.ejectLevel++
    host.ejections++
    host.ejectReason = reason
    host.lastEjectMs = Math.min(o.ejectMs * host.ejectLevel, Math.max(o.ejectMs, o.maxEjectMs ?? 300000))
    host.ejectedUntil = now + host.lastEjectMs
    this.ejectionsBy[EJECT_REASONS.indexOf(reason)]++
    return true
  }

  /** Another host may go out now: under maxEjectedPercent of the hosts, or none is out. */
  mayEject (now: number): boolean {
    const n = this.hosts.length
    const out = this.ejectedCount(now)
    if (out === 0) return true
    return (out + 1) * 100 <= n * (this.options.maxEjectedPercent ?? 10)
  }

  ejectedCount (now: number): number {
    let out = 0
    const hosts = this.hosts
    for (let i = 0; i < hosts.length; i++) if (hosts[i].ejectedUntil > now) out++
    return out
  }

  /**
   * Once per interval: readmit hosts whose time is up, decay one ejection of hosts that stayed
   * in, and eject hosts whose success rate is below mean - stdevFactor x stdev of the hosts
   * with enough calls (when at least minHosts have).
   */
  sweep (now: number): void {
    const o = this.options
    const interval = o.intervalMs ?? 10000
    const first = this.#nextSweep === 0
    this.#nextSweep = now + interval
    if (first) return
    const hosts = this.hosts
    const sr = o.successRate
    const minReq = sr?.minRequests ?? 100
    let n = 0
    let sum = 0
    let sq = 0
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i]
      if (h.ejectedUntil !== 0 && h.ejectedUntil <= now) h.ejectedUntil = 0 // readmitted
      else if (h.ejectedUntil === 0 && h.ejectLevel > 0) h.ejectLevel--
      const total = h.windowOk + h.windowFailed
      h.lastSuccessRate = total >= minReq ? h.windowOk / total : -1
      if (h.lastSuccessRate >= 0) { n++; sum += h.lastSuccessRate; sq += h.lastSuccessRate * h.lastSuccessRate }
    }
    if (sr !== undefined && !sr.enabled) n = 0
    if (n > 0 && n >= (sr?.minHosts ?? 5)) {
      const mean = sum / n
      const stdev = Math.sqrt(Math.max(0, sq / n - mean * mean))
      const threshold = mean - (sr?.stdevFactor ?? 1.9) * stdev
      for (let i = 0; i < hosts.length; i++) {
        const h = hosts[i]
        if (h.lastSuccessRate >= 0 && h.lastSuccessRate < threshold) this.eject(h, 'success_rate', now)
      }
    }
    for (let i = 0; i < hosts.length; i++) { hosts[i].windowOk = 0; hosts[i].windowFailed = 0 }
  }

  /** A call of this cluster may start (the maxRequests breaker); counts the trip if not. */
  admit (): boolean {
    const max = this.breakers.maxRequests
    if (max > 0 && this.active >= max) { this.tripsBy[Breaker.Requests]++; return false }
    return true
  }

  /** A retry may start: under the cluster's maxRetries and the route's budget. */
  admitRetry (budgetPercent: number, minRetries: number): boolean {
    const max = this.breakers.maxRetries
    if (max > 0 && this.retries >= max) { this.tripsBy[Breaker.Retries]++; return false }
    const budget = Math.max(minRetries, Math.floor(this.active * budgetPercent / 100))
    if (this.retries >= budget) { this.budgetExhausted++; return false }
    return true
  }

  /** Another call may wait for a stream slot (the maxPending breaker). */
  admitPending (): boolean {
    const max = this.breakers.maxPending
    if (max > 0 && this.pending >= max) { this.tripsBy[Breaker.Pending]++; return false }
    return true
  }

  /** Another connection may open (the maxConnections breaker). */
  admitConnection (): boolean {
    const max = this.breakers.maxConnections
    if (max > 0 && this.connections >= max) { this.tripsBy[Breaker.Connections]++; return false }
    return true
  }
}

/** The admin API's view of one host (GET /v1/clusters/{name}). */
export function hostState (h: Host, now: number): Record<string, unknown> {
  return {
    id: h.id,
    healthy: h.healthy,
    ejected: h.ejectedUntil > now,
    ...(h.ejectedUntil > now ? { ejectedForMs: Math.ceil(h.ejectedUntil - now) } : {}),
    ejections: h.ejections,
    ejectLevel: h.ejectLevel,
    ...(h.ejectReason !== '' ? { lastEjectReason: h.ejectReason, lastEjectMs: h.lastEjectMs } : {}),
    consecutiveFailures: h.consecutiveFailures,
    consecutiveStatusFailures: h.consecutiveStatus,
    ...(h.lastSuccessRate >= 0 ? { successRate: Math.round(h.lastSuccessRate * 10000) / 10000 } : {}),
    active: h.active,
  }
}
