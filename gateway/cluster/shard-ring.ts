import { fnv1a } from './hash.js'
import type { Host } from './host.js'

/**
 * Service-list sharding. Every replica orders all hosts the same way (by a hash of the host
 * id) and treats that order as a ring of N equal slots; its own id hashes to a point u in
 * [0, 1) and it keeps the ceil(N * percent / 100) hosts starting at slot floor(u * N).
 *
 * Why equal slots rather than hash points (or virtual nodes): a host is held by the replicas
 * whose start falls in the K slots before it, a fixed 1/N share each, so hosts differ only
 * by how replica ids happened to hash (binomial noise), and complementary windows balance
 * each other. A hash-point ring adds the spread of the gaps between points (about ±7% per
 * host at 200 hosts) and failed the 0.9x-1.1x target. Removing a host shifts the window by at
 * most one slot, so a replica's set changes by at most two hosts (the removed one out, one in;
 * or one in and one out at the edges).
 */
export function selectShard<H extends Pick<Host, 'id'>> (hosts: readonly H[], percent: number, replicaId: string): H[] {
  const n = hosts.length
  const want = Math.min(n, Math.ceil(n * percent / 100))
  if (want >= n) return hosts.slice()
  if (want <= 0) return []
  const keys = new Array<{ h: H, k: number }>(n)
  for (let i = 0; i < n; i++) keys[i] = { h: hosts[i], k: fnv1a(hosts[i].id) }
  keys.sort((a, b) => a.k - b.k || (a.h.id < b.h.id ? -1 : a.h.id > b.h.id ? 1 : 0))
  const u = fnv1a(`replica:${replicaId}`) / 0x100000000
  const start = Math.floor(u * n)
  const out: H[] = []
  for (let j = 0; j < want; j++) out.push(keys[(start + j) % n].h)
  return out
}
