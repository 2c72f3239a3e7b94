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

class RoundRobin implements LoadBalancer {
  #next = 0
  pick (candidates: readonly Host[], _call: Call, now: number): Host | null {
    const n = candidates.length
    for (let i = 0; i < n; i++) {
      const h = candidates[(this.#next++ & 0x7fffffff) % n]
      if (h.isAvailable(now)) return h
    }
    return null
  }
}

class RandomLb implements LoadBalancer {
  pick (candidates: readonly Host[], _call: Call, now: number): Host | null {
    const n = candidates.length
    if (n === 0) return null
    const start = (Math.random() * n) | 0
    for (let i = 0; i < n; i++) {
      const h = candidates[(start + i) % n]
      if (h.isAvailable(now)) return h
    }
    return null
  }
}

/** Power of two choices on in-flight requests (Envoy's least_request default). */
class LeastRequest implements LoadBalancer {
  pick (candidates: readonly Host[], _call: Call, now: number): Host | null {
    const n = candidates.length
    if (n === 0) return null
    if (n === 1) return candidates[0].isAvailable(now) ? candidates[0] : null
    const a = candidates[(Math.random() * n) | 0]
    const b = candidates[(Math.random() * n) | 0]
    const aOk = a.isAvailable(now)
    const bOk = b.isAvailable(now)
    if (aOk && bOk) return a.active <= b.active ? a : b
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
