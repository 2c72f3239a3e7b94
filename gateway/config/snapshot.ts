import type { Filter } from '../../filters/api.js'
import type { CompiledChain } from '../chain/compiled-chain.js'
import type { Cluster } from '../cluster/cluster.js'
import type { RouteTable } from '../router/route-table.js'
import type { GatewayOptions } from './options.js'

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
  readonly chains: { readonly triple: CompiledChain, readonly bolt: CompiledChain }
  /** Every filter instance of this revision, closed when the revision is retired. */
  readonly filters: readonly Filter[]
}

/** Holder of the current snapshot; the one mutable reference the data plane reads. */
export class SnapshotRef {
  current: Snapshot
  constructor (initial: Snapshot) { this.current = initial }
}
