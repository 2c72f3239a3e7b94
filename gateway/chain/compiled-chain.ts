import type { Filter } from './filter-api.js'
import type { RequestPhaseName } from '../call/phase.js'

/** A filter as placed in a chain: the instance plus its name for logs and errors. */
export interface ChainEntry {
  readonly name: string
  readonly filter: Filter
}

/**
 * Hooks per phase for one listener, built once per revision. An empty phase is null so the
 * call path tests `!== null` and skips it (fastify's Context does the same).
 */
export class CompiledChain {
  readonly beforeRoute: readonly ChainEntry[] | null
  readonly afterRoute: readonly ChainEntry[] | null
  readonly afterHost: readonly ChainEntry[] | null
  /** onUpstream hooks, in chain order. */
  readonly upstream: readonly ChainEntry[] | null
  readonly response: readonly ChainEntry[] | null
  readonly log: readonly ChainEntry[] | null
  /** onEvent hooks (call.report), in chain order. */
  readonly events: readonly ChainEntry[] | null
  readonly entries: readonly ChainEntry[]

  constructor (entries: ReadonlyArray<ChainEntry & { phase: RequestPhaseName }>) {
    this.entries = Object.freeze(entries.map(e => ({ name: e.name, filter: e.filter })))
    const pick = (pred: (e: ChainEntry & { phase: RequestPhaseName }) => boolean, reverse = false): readonly ChainEntry[] | null => {
      const list = entries.filter(pred).map(e => ({ name: e.name, filter: e.filter }))
      if (reverse) list.reverse()
      return list.length === 0 ? null : Object.freeze(list)
    }
    this.beforeRoute = pick(e => e.filter.onRequest !== undefined && e.phase === 'beforeRoute')
    this.afterRoute = pick(e => e.filter.onRequest !== undefined && e.phase === 'afterRoute')
    this.afterHost = pick(e => e.filter.onRequest !== undefined && e.phase === 'afterHost')
    this.upstream = pick(e => e.filter.onUpstream !== undefined)
    // Response hooks run in reverse order, as in Envoy's encoder chain.
    this.response = pick(e => e.filter.onResponse !== undefined, true)
    this.log = pick(e => e.filter.onLog !== undefined)
    this.events = pick(e => e.filter.onEvent !== undefined)
  }

  static readonly EMPTY = new CompiledChain([])
}
