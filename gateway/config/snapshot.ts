import type { Filter } from '../chain/filter-api.js'
import type { RequestPhaseName } from '../call/phase.js'
import type { ChainEntry, CompiledChain } from '../chain/compiled-chain.js'
import type { Cluster } from '../cluster/cluster.js'
import type { RouteTable } from '../router/route-table.js'
import type { GatewayOptions } from './options.js'

/**
 * One compiled chain entry and the key it was compiled from (name, module, config,
 * protocols). The next compile reuses the filter, and its chain entry, when the key is the
 * same, so a stateful filter (rate-limit buckets) keeps its state across unrelated changes.
 */
export interface CompiledFilter {
  readonly key: string
  readonly filter: Filter
  readonly entry: ChainEntry & { readonly phase: RequestPhaseName }
  readonly triple: boolean
  readonly bolt: boolean
  /** The filter's compile called `ctx.readsMethod()`. */
  readonly readsMethod: boolean
}

/**
 * One compiled revision of everything the call path reads. Built off the hot path and
 * swapped in one assignment; each call reads the current snapshot once at decode, so it
 * sees the old revision or the new one, never a mix. Lives here (not in lifecycle/) because
 * the call path imports it.
 */
export interface Snapshot {
  readonly revision: number
  readonly options: Readonly<GatewayOptions>
  readonly routes: RouteTable
  readonly clusters: ReadonlyMap<string, Cluster>
  /** The clusters of the previous snapshot this one replaced or removed, when it was
   *  compiled from it (what pool retirement looks at); null: compiled whole. */
  readonly clusterDelta: ClusterDelta | null
  /** How many of `clusters` hold each host, by host id (config/host-refs.ts). */
  readonly hostRefs: ReadonlyMap<string, number>
  readonly chains: { readonly triple: CompiledChain, readonly bolt: CompiledChain }
  /** A Bolt route or Bolt-chain filter matches on the method: read it from the request body
   *  when the header lacks it (protocol/bolt/decode.ts). */
  readonly boltReadsMethod: boolean
  /** Every filter instance of this revision; the ones the next revision does not reuse are
   *  closed when this one is retired (`retiredFilters`). */
  readonly filters: readonly Filter[]
  /** What each enabled chain entry was compiled from (config/compile.ts reuses them). */
  readonly compiledFilters: readonly CompiledFilter[]
}

export interface ClusterDelta {
  /** The snapshot this one was compiled from (weak: snapshots do not chain in memory). */
  readonly from: WeakRef<Snapshot>
  readonly replaced: readonly Cluster[]
  /** The clusters of this snapshot that the previous one did not have as the same object. */
  readonly added: readonly Cluster[]
}

/** `next` was compiled from `old`, so its clusterDelta says all that changed between them. */
export function compiledFrom (old: Snapshot, next: Snapshot): boolean {
  return next.clusterDelta !== null && next.clusterDelta.from.deref() === old
}

/** Holder of the current snapshot; the one mutable reference the data plane reads. */
export class SnapshotRef {
  current: Snapshot
  constructor (initial: Snapshot) { this.current = initial }
}

/** Filters of `old` that `next` does not reuse: close these (after a grace period) when
 *  `next` replaces `old`. */
export function retiredFilters (old: Snapshot, next: Snapshot): Filter[] {
  if (old.filters.length === 0) return []
  const kept = new Set<Filter>(next.filters)
  return old.filters.filter(f => !kept.has(f))
}
