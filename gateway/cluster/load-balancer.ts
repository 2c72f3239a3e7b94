import type { Call } from '../call/call.js'
import type { LbPolicy } from '../config/options.js'
import { fnv1a } from './hash.js'
import type { Host } from './host.js'

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

const VNODES = 64

interface Ring { points: Uint32Array, owners: Uint32Array }

/**
 * Consistent hash on a request header (Ketama-style ring with virtual nodes). Rings are built
 * per candidate array and cached weakly, so subsets get their own ring and a snapshot swap
 * drops the old ones. A call without the header falls back to round-robin.
 */
class ConsistentHash implements LoadBalancer {
  readonly #header: string
  readonly #rings = new WeakMap<readonly Host[], Ring>()
  readonly #fallback = new RoundRobin()
  constructor (header: string) { this.#header = header.toLowerCase() }

  pick (candidates: readonly Host[], call: Call, now: number): Host | null {
    const key = call.headers.get(this.#header)
    if (key === undefined || candidates.length === 0) return this.#fallback.pick(candidates, call, now)
    let ring = this.#rings.get(candidates)
    if (ring === undefined) { ring = buildRing(candidates); this.#rings.set(candidates, ring) }
    const h = fnv1a(key)
    const pts = ring.points
    let lo = 0
    let hi = pts.length
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (pts[mid] < h) lo = mid + 1; else hi = mid }
    for (let i = 0; i < pts.length; i++) {
      const host = candidates[ring.owners[(lo + i) % pts.length]]
      if (host.isAvailable(now)) return host
    }
    return null
  }
}

function buildRing (hosts: readonly Host[]): Ring {
  const pairs: Array<[number, number]> = []
  hosts.forEach((h, idx) => {
    for (let v = 0; v < VNODES * h.weight; v++) pairs.push([fnv1a(`${h.id}#${v}`), idx])
  })
  pairs.sort((a, b) => a[0] - b[0])
  return { points: Uint32Array.from(pairs, p => p[0]), owners: Uint32Array.from(pairs, p => p[1]) }
}

export function createLoadBalancer (policy: LbPolicy, hashHeader?: string): LoadBalancer {
  switch (policy) {
    case 'round-robin': return new RoundRobin()
    case 'random': return new RandomLb()
    case 'least-request': return new LeastRequest()
    case 'consistent-hash': return new ConsistentHash(hashHeader ?? '')
  }
}
