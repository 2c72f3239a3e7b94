import type { Call } from '../call/call.js'
import type { ClusterOptions } from '../config/options.js'
import type { Host } from './host.js'
import { HashRing } from './hash-ring.js'
import { ClusterHealth, DEFAULT_OUTLIER } from './outlier.js'
import { createLoadBalancer, type LoadBalancer } from './load-balancer.js'
import { SubsetIndex } from './subsets.js'

let lastClusterId = 0

/** How a Cluster was built from the previous one (config/compile.ts `buildCluster`). */
export interface ClusterLineage {
  /** `id` of the cluster this one was spliced from. */
  readonly from: number
  /** Hosts the splice took out (candidates for pool retirement; some may remain elsewhere). */
  readonly removed: readonly Host[]
  /** Hosts the splice put in (config/host-refs.ts counts them without walking the list). */
  readonly inserted: readonly Host[]
}

/**
 * An immutable cluster snapshot: its hosts, their label bitmaps and a load balancer. An
 * update builds a new Cluster (reusing interned Host objects) and swaps the reference.
 */
export class Cluster {
  /** Process-unique; lets the next compile tell which cluster a splice started from. */
  readonly id: number
  /** Set when this cluster was spliced from another (a small host delta); null: built whole. */
  readonly lineage: ClusterLineage | null
  readonly name: string
  readonly protocol: ClusterOptions['protocol']
  readonly options: Readonly<ClusterOptions>
  /** Hosts this replica uses (after service-list sharding). */
  readonly hosts: readonly Host[]
  /** Hosts before sharding (what discovery pushed). */
  readonly totalHosts: number
  readonly subsets: SubsetIndex
  readonly lb: LoadBalancer
  /** Consistent-hash clusters: the ring, built with the cluster; null for other policies. */
  readonly ring: HashRing | null
  /** Outlier detection and circuit breakers: one per cluster name, across revisions. */
  readonly health: ClusterHealth
  readonly #fallback: readonly Host[] | null

  /**
   * @param subsets the index of exactly these hosts when the caller derived it (a splice of
   *   the previous cluster's index, or that index itself when the hosts are unchanged).
   * @param prevRing with `splice`: the ring of the cluster these hosts were spliced from.
   */
  constructor (options: Readonly<ClusterOptions>, hosts: readonly Host[], totalHosts = hosts.length,
    subsets?: SubsetIndex, lineage: ClusterLineage | null = null, prevRing?: HashRing | null, splice?: { at: number, removed: number, inserted: number }, health?: ClusterHealth) {
    this.id = ++lastClusterId
    this.lineage = lineage
    this.name = options.name
    this.protocol = options.protocol
    this.options = options
    this.hosts = Object.isFrozen(hosts) ? hosts : Object.freeze(hosts.slice())
    this.totalHosts = totalHosts
    this.subsets = subsets ?? new SubsetIndex(this.hosts)
    // The hash ring is built here, with the cluster (compile time): spliced from the cluster
    // this one was spliced from, reused when the hosts are the same array.
    let ring: HashRing | null = null
    if (options.lb.policy === 'consistent-hash') {
      ring = prevRing != null && splice !== undefined ? HashRing.spliced(prevRing, this.hosts, splice.at, splice.removed, splice.inserted) : HashRing.of(this.hosts)
    }
    this.ring = ring
    this.lb = createLoadBalancer(options.lb.policy, options.lb.hashHeader, ring, this.subsets)
    const fb = options.subsetFallback
    const outlier = options.outlier ?? DEFAULT_OUTLIER
    this.health = health ?? new ClusterHealth(options.name, outlier, options.circuitBreakers)
    this.health.configure(outlier, options.circuitBreakers, this.hosts)
    this.#fallback = fb.policy === 'any' ? this.hosts : fb.policy === 'default' ? this.subsets.select(fb.defaultSubset ?? {}) : null
  }

  /**
   * Choose a host for the call: the subset it asks for (route or filter), falling back as
   * the cluster says when that subset has no available host. Null: no healthy host.
   */
  choose (call: Call, now: number): Host | null {
    const sel = call.subset
    if (sel === null) return this.lb.pick(this.hosts, call, now)
    const picked = this.lb.pick(this.subsets.select(sel), call, now)
    if (picked !== null || this.#fallback === null) return picked
    return this.lb.pick(this.#fallback, call, now)
  }
}
