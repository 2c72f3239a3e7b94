/**
 * How many clusters of a snapshot hold each host (by id). `droppedHosts` asks it whether a
 * host a change took out is still held elsewhere: with 4,000 clusters, scanning every
 * cluster's host list for that answer was the biggest per-push cost left (twice per push:
 * admin store and data-plane swap). Kept in a ChunkedMap and patched from the previous
 * snapshot's counts, so a push pays for the hosts of the clusters it changed only.
 */
import type { Cluster } from '../cluster/cluster.js'
import { ChunkedMap } from '../util/chunked-map.js'

export type HostRefs = ChunkedMap<number>

/** Count every host of these clusters (a compile without a previous snapshot). */
export function countHostRefs (clusters: Iterable<Cluster>): HostRefs {
  const n = new Map<string, number>()
  for (const c of clusters) for (const h of c.hosts) n.set(h.id, (n.get(h.id) ?? 0) + 1)
  return ChunkedMap.from(n)
}

/**
 * `prev` with each (old, new) cluster pair applied: the old one's hosts released, the new
 * one's counted (undefined: no cluster of that name on that side). A new cluster spliced from
 * the old one only moves what its splice removed and inserted.
 */
export function patchHostRefs (prev: HostRefs, pairs: Iterable<readonly [Cluster | undefined, Cluster | undefined]>): HostRefs {
  const delta = new Map<string, number>()
  const add = (id: string, by: number): void => { delta.set(id, (delta.get(id) ?? 0) + by) }
  for (const [oc, nc] of pairs) {
    if (oc === nc) continue
    if (oc !== undefined && nc !== undefined && nc.lineage !== null && nc.lineage.from === oc.id) {
      for (const h of nc.lineage.removed) add(h.id, -1)
      for (const h of nc.lineage.inserted) add(h.id, 1)
      continue
    }
    if (oc !== undefined) for (const h of oc.hosts) add(h.id, -1)
    if (nc !== undefined) for (const h of nc.hosts) add(h.id, 1)
  }
  const changes: Array<[string, number | undefined]> = []
  for (const [id, by] of delta) {
    if (by === 0) continue
    const v = (prev.get(id) ?? 0) + by
    changes.push([id, v > 0 ? v : undefined])
  }
  return prev.with(changes)
}
