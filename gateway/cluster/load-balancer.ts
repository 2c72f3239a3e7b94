import type { Call } from '../call/call.js'
import type { LbPolicy } from '../config/options.js'
import { fnv1a } from './hash.js'
import { HashRing } from './hash-ring.js'
import type { Host } from './host.js'
import type { SubsetIndex } from './subsets.js'

/** Picks one available host from a candidate list, or null when none is available. */
export interface LoadBalancer {
  pick (candidates: readonly Host[], call: Call, now: number): Host | null
}

/**
 * Host weights (1..1000, e.g. SOFARPC provider weights and warm-up pushed by a registry
 * bridge). When a candidate list's weights differ, the policies below pick in proportion to
 * weight; with equal weights (the common case) they run unchanged. Cumulative weights are
 * built once per candidate array: an array belongs to one Cluster, and a weight change reaches
 * the gateway as a new snapshot, so as a new Cluster with new arrays and a new balancer.
 */
class Weights {
  #last: readonly Host[] | null = null
  #lastCum: Float64Array | null = null
  readonly #byList = new WeakMap<readonly Host[], Float64Array | null>()

  /** Cumulative weights of `hosts`, or null when they are all equal. */
  of (hosts: readonly Host[]): Float64Array | null {
    if (hosts === this.#last) return this.#lastCum
    let cum = this.#byList.get(hosts)
    if (cum === undefined) { cum = cumulative(hosts); this.#byList.set(hosts, cum) }
    this.#last = hosts
    this.#lastCum = cum
    return cum
  }
}

function cumulative (hosts: readonly Host[]): Float64Array | null {
  const n = hosts.length
  if (n < 2) return null
  const w0 = hosts[0].weight
  let i = 1
  while (i < n && hosts[i].weight === w0) i++
  if (i === n) return null
  const cum = new Float64Array(n)
  let sum = 0
  for (let k = 0; k < n; k++) { sum += hosts[k].weight; cum[k] = sum }
  return cum
}

/** Index of the host owning point `x` in [0, total): the first with cum[i] > x. */
function weightedIndex (cum: Float64Array, x: number): number {
  let lo = 0
  let hi = cum.length - 1
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (cum[mid] > x) hi = mid; else lo = mid + 1 }
  return lo
}

/** The host at point `x`, or the next available one after it. */
function pickAt (candidates: readonly Host[], cum: Float64Array, x: number, now: number): Host | null {
  const n = candidates.length
  const start = weightedIndex(cum, x)
  for (let i = 0; i < n; i++) {
    const h = candidates[(start + i) % n]
    if (h.isAvailable(now)) return h
  }
  return null
}

/** 1/golden ratio: k * PHI mod 1 spreads consecutive picks evenly over [0, 1). */
const PHI = 0.6180339887498949

class RoundRobin implements LoadBalancer {
  #next = 0
  readonly #weights = new Weights()
  pick (candidates: readonly Host[], _call: Call, now: number): Host | null {
    const n = candidates.length
    const cum = this.#weights.of(candidates)
    if (cum !== null) {
      // Weighted: a low-discrepancy sequence over the weight line, so each host's share of
      // any run of picks is close to its weight share, interleaved rather than in blocks.
      const k = this.#next++ & 0x7fffffff
      return pickAt(candidates, cum, ((k * PHI) % 1) * cum[n - 1], now)
    }
    for (let i = 0; i < n; i++) {
      const h = candidates[(this.#next++ & 0x7fffffff) % n]
      if (h.isAvailable(now)) return h
    }
    return null
  }
}

class RandomLb implements LoadBalancer {
  readonly #weights = new Weights()
  pick (candidates: readonly Host[], _call: Call, now: number): Host | null {
    const n = candidates.length
    if (n === 0) return null
    const cum = this.#weights.of(candidates)
    if (cum !== null) return pickAt(candidates, cum, Math.random() * cum[n - 1], now)
    const start = (Math.random() * n) | 0
    for (let i = 0; i < n; i++) {
      const h = candidates[(start + i) % n]
      if (h.isAvailable(now)) return h
    }
    return null
  }
}

/**
 * Power of two choices on in-flight requests (Envoy's least_request default). With unequal
 * weights both choices are drawn in proportion to weight and compared on in-flight requests
 * per unit of weight: idle hosts then share calls by weight, loaded ones by weighted load.
 */
class LeastRequest implements LoadBalancer {
  readonly #weights = new Weights()
  pick (candidates: readonly Host[], _call: Call, now: number): Host | null {
    const n = candidates.length
    if (n === 0) return null
    if (n === 1) return candidates[0].isAvailable(now) ? candidates[0] : null
    const cum = this.#weights.of(candidates)
    let a: Host
    let b: Host
    if (cum === null) {
      a = candidates[(Math.random() * n) | 0]
      b = candidates[(Math.random() * n) | 0]
    } else {
      const total = cum[n - 1]
      a = candidates[weightedIndex(cum, Math.random() * total)]
      b = candidates[weightedIndex(cum, Math.random() * total)]
    }
    const aOk = a.isAvailable(now)
    const bOk = b.isAvailable(now)
    if (aOk && bOk) return a.active * b.weight <= b.active * a.weight ? a : b
    if (aOk) return a
    if (bOk) return b
    // Both picks were down: fall back to a scan so one dead host never fails a call.
    let best: Host | null = null
    for (const h of candidates) if (h.isAvailable(now) && (best === null || h.active < best.active)) best = h
    return best
  }
}

/**
 * Consistent hash on a request header, over the cluster's ring (hash-ring.ts), built with the
 * cluster at compile time. A subset the index selected walks the same ring with the subset's
 * bitmap; any other candidate list (not one of this cluster's) gets a ring of its own, kept
 * per list. A call without the header falls back to round-robin.
 */
class ConsistentHash implements LoadBalancer {
  readonly #header: string
  readonly #fallback = new RoundRobin()
  readonly #ring: HashRing | null
  readonly #subsets: SubsetIndex | null

  constructor (header: string, ring: HashRing | null, subsets: SubsetIndex | null) {
    this.#header = header.toLowerCase()
    this.#ring = ring
    this.#subsets = subsets
  }

  pick (candidates: readonly Host[], call: Call, now: number): Host | null {
    const key = call.headers.get(this.#header)
    if (key === undefined || candidates.length === 0) return this.#fallback.pick(candidates, call, now)
    const h = fnv1a(key)
    const ring = this.#ring
    if (ring !== null) {
      if (candidates === ring.hosts) return ring.pick(h, now, null)
      const members = this.#subsets?.membersOf(candidates)
      if (members !== undefined) return ring.pick(h, now, members)
    }
    return HashRing.of(candidates).pick(h, now, null)
  }
}

/**
 * @param ring consistent-hash: the cluster's ring (built at compile time with the cluster).
 * @param subsets consistent-hash: the cluster's subset index (its subsets share the ring).
 */
export function createLoadBalancer (policy: LbPolicy, hashHeader?: string, ring: HashRing | null = null, subsets: SubsetIndex | null = null): LoadBalancer {
  switch (policy) {
    case 'round-robin': return new RoundRobin()
    case 'random': return new RandomLb()
    case 'least-request': return new LeastRequest()
    case 'consistent-hash': return new ConsistentHash(hashHeader ?? '', ring, subsets)
  }
}
