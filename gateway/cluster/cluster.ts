import type { Call } from '../call/call.js'
import type { ClusterOptions } from '../config/options.js'
import type { Host } from './host.js'
import { createLoadBalancer, type LoadBalancer } from './load-balancer.js'
import { SubsetIndex } from './subsets.js'

/**
 * An immutable cluster snapshot: its hosts, their label bitmaps and a load balancer. An
 * update builds a new Cluster (reusing interned Host objects) and swaps the reference.
 */
export class Cluster {
  readonly name: string
  readonly protocol: ClusterOptions['protocol']
  readonly options: Readonly<ClusterOptions>
  /** Hosts this replica uses (after service-list sharding). */
  readonly hosts: readonly Host[]
  /** Hosts before sharding (what discovery pushed). */
  readonly totalHosts: number
  readonly subsets: SubsetIndex
  readonly lb: LoadBalancer
  readonly #fallback: readonly Host[] | null

  constructor (options: Readonly<ClusterOptions>, hosts: readonly Host[], totalHosts = hosts.length) {
    this.name = options.name
    this.protocol = options.protocol
    this.options = options
    this.hosts = Object.freeze(hosts.slice())
    this.totalHosts = totalHosts
    const labels = new Map<Host, Readonly<Record<string, string>>>()
    for (const h of this.hosts) labels.set(h, h.labels)
    this.subsets = new SubsetIndex(this.hosts, h => labels.get(h) ?? {})
    this.lb = createLoadBalancer(options.lb.policy, options.lb.hashHeader)
    const fb = options.subsetFallback
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
