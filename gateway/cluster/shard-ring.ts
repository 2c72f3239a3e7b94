import { fnv1a } from './hash.js'
import type { Host } from './host.js'

/** Virtual nodes per host: enough that each host's share of the ring is within a few %. */
export const SHARD_VNODES = 160

/**
 * Service-list sharding: every replica places all hosts on one consistent-hash ring (virtual
 * nodes) and, starting at its own id's point, walks clockwise collecting distinct hosts until
 * it holds ceil(N * percent / 100). Each replica holds fewer upstream connections while the
 * fleet covers every host evenly; removing a host changes a replica's set by at most that
 * host and its replacement.
 */
export function selectShard<H extends Pick<Host, 'id'>> (hosts: readonly H[], percent: number, replicaId: string): H[] {
  const n = hosts.length
  const want = Math.min(n, Math.ceil(n * percent / 100))
  if (want >= n) return hosts.slice()
  const points = new Uint32Array(n * SHARD_VNODES)
  const owners = new Uint32Array(n * SHARD_VNODES)
  const order = new Uint32Array(n * SHARD_VNODES)
  for (let i = 0; i < n; i++) {
    for (let v = 0; v < SHARD_VNODES; v++) {
      const k = i * SHARD_VNODES + v
      points[k] = fnv1a(`${hosts[i].id}#${v}`)
      owners[k] = i
      order[k] = k
    }
  }
  order.sort((a, b) => points[a] - points[b] || owners[a] - owners[b])
  const start = lowerBound(points, order, fnv1a(`replica:${replicaId}`))
  const taken = new Uint8Array(n)
  const out: H[] = []
  for (let j = 0; j < order.length && out.length < want; j++) {
    const owner = owners[order[(start + j) % order.length]]
    if (taken[owner] === 0) { taken[owner] = 1; out.push(hosts[owner]) }
  }
  return out
}

function lowerBound (points: Uint32Array, order: Uint32Array, h: number): number {
  let lo = 0
  let hi = order.length
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (points[order[mid]] < h) lo = mid + 1; else hi = mid }
  return lo === order.length ? 0 : lo
}
