import type { Call } from '../call/call.js'
import type { RouteOptions } from '../config/options.js'
import { ChunkedMap } from '../util/chunked-map.js'
import { notedSplice } from '../util/arrays.js'
import { RouteConfig } from './route.js'
import { exactValue } from './string-matcher.js'

/** A route options object compiles to the same RouteConfig every time (it is immutable):
 *  a new table reuses the compiled routes of the ones that did not change. */
const compiled = new WeakMap<RouteOptions, RouteConfig>()
function compiledRoute (o: RouteOptions, work?: RouteTableWork): RouteConfig {
  let r = compiled.get(o)
  if (r === undefined) {
    r = new RouteConfig(o)
    compiled.set(o, r)
    if (work !== undefined) work.compiledRoutes++
  }
  return r
}

/** Auto-routes of discovered services are named so and always come last (admin/effective.ts);
 *  the config check reserves the prefix. */
export const DISCOVERED_ROUTE_PREFIX = 'discovery:'

/** Work a table did when it was built (tests count it: a push must cost what changed). */
export interface RouteTableWork { compiledRoutes: number, indexedRoutes: number, touchedServices: number }

/**
 * First match in config order wins. Two parts, matched in that order:
 * - the explicit routes (config file, `/v1/routes`): routes with an exact service are indexed
 *   by it, and a call tests only its own service's routes and the non-exact ones, merged by
 *   config order as it scans;
 * - the discovered auto-routes (all exact): an immutable map service -> routes that the next
 *   table updates for the services a push touched only (ChunkedMap), so with 2,000 apps a push
 *   of one app rebuilds neither the index nor the other apps' entries.
 */
export class RouteTable {
  readonly #options: readonly RouteOptions[]
  readonly #explicitCount: number
  readonly #explicit: ExplicitRoutes
  readonly #discovered: ChunkedMap<readonly RouteConfig[]>
  readonly work: RouteTableWork

  /** @param previous the live table: its explicit part and discovered index are reused or patched. */
  constructor (options: readonly RouteOptions[], previous?: RouteTable) {
    this.#options = options
    let n = 0
    while (n < options.length && !options[n].name.startsWith(DISCOVERED_ROUTE_PREFIX)) n++
    this.#explicitCount = n
    const work: RouteTableWork = { compiledRoutes: 0, indexedRoutes: 0, touchedServices: 0 }
    this.work = work
    this.#explicit = previous !== undefined && sameRange(previous.#options, 0, previous.#explicitCount, options, 0, n)
      ? previous.#explicit
      : new ExplicitRoutes(options, n, work)
    this.#discovered = previous === undefined ? indexAll(options, n, work) : RouteTable.#patch(previous, options, n, work)
  }

  /** Some Bolt route matches or requires the method (the listener then reads it from the body).
   *  Discovered auto-routes match on the service only. */
  get boltReadsMethod (): boolean { return this.#explicit.boltReadsMethod }

  match (call: Call): RouteConfig | null {
    const r = this.#explicit.match(call)
    if (r !== null) return r
    const list = this.#discovered.get(call.service)
    if (list !== undefined) for (let i = 0; i < list.length; i++) if (list[i].matches(call)) return list[i]
    return null
  }

  /** Some route names this service exactly (a config or discovery name, not caller input):
   *  what may appear as a metric label. */
  hasService (service: string): boolean { return this.#explicit.hasService(service) || this.#discovered.has(service) }

  /** Every route in order (tests and tools; not used per call). */
  get routes (): readonly RouteConfig[] { return this.#options.map(o => compiledRoute(o)) }

  /** Patch the previous index for the routes that changed (one splice of the discovered part). */
  static #patch (previous: RouteTable, options: readonly RouteOptions[], from: number, work: RouteTableWork): ChunkedMap<readonly RouteConfig[]> {
    const a = previous.#options
    const aFrom = previous.#explicitCount
    const aLen = a.length - aFrom
    const bLen = options.length - from
    const min = Math.min(aLen, bLen)
    let at = 0
    let tail = 0
    // The admin store notes its splice (util/arrays.ts): no scan of 20,000 routes for it.
    const noted = aFrom === from ? notedSplice(a, options) : undefined
    if (noted !== undefined && noted.at >= from) {
      at = noted.at - from
      tail = aLen - at - noted.removed
    } else {
      while (at < min && a[aFrom + at] === options[from + at]) at++
      while (tail < min - at && a[a.length - 1 - tail] === options[options.length - 1 - tail]) tail++
    }
    const removed = aLen - at - tail
    const inserted = bLen - at - tail
    if (removed === 0 && inserted === 0) return previous.#discovered
    // Touched services: their lists are rebuilt from the old list (minus removed routes,
    // split around the splice point) and the inserted routes, in order.
    const gone = new Set<RouteConfig>()
    const added = new Map<string, RouteConfig[]>()
    for (let i = 0; i < removed; i++) gone.add(compiledRoute(a[aFrom + at + i]))
    for (let i = 0; i < inserted; i++) {
      const o = options[from + at + i]
      const r = compiledRoute(o, work)
      const s = exactOf(o)
      const l = added.get(s)
      if (l === undefined) added.set(s, [r]); else l.push(r)
    }
    const services = new Set<string>(added.keys())
    for (const r of gone) services.add(exactOf(r.options))
    const changes: Array<[string, readonly RouteConfig[] | undefined]> = []
    for (const s of services) {
      const before: RouteConfig[] = []
      const after: RouteConfig[] = []
      for (const r of previous.#discovered.get(s) ?? []) {
        if (gone.has(r)) continue
        // Kept routes sit before or after the splice in the old list; find out where, from
        // the splice point outwards (a service's routes are usually its app's, close by).
        if (positionNear(a, aFrom, r, at) < at) before.push(r); else after.push(r)
      }
      const list = [...before, ...(added.get(s) ?? []), ...after]
      changes.push([s, list.length === 0 ? undefined : Object.freeze(list)])
      work.indexedRoutes += list.length
    }
    work.touchedServices += services.size
    return previous.#discovered.with(changes)
  }
}

/** The discovered part indexed whole (first table, or no previous). */
function indexAll (options: readonly RouteOptions[], from: number, work: RouteTableWork): ChunkedMap<readonly RouteConfig[]> {
  const by = new Map<string, RouteConfig[]>()
  for (let i = from; i < options.length; i++) {
    const s = exactOf(options[i])
    const l = by.get(s)
    const r = compiledRoute(options[i], work)
    if (l === undefined) by.set(s, [r]); else l.push(r)
  }
  work.indexedRoutes += options.length - from
  work.touchedServices += by.size
  return ChunkedMap.from<readonly RouteConfig[]>([...by].map(([s, l]) => [s, Object.freeze(l)] as const))
}

function exactOf (o: RouteOptions): string {
  const s = exactValue(o.match.service)
  if (s === undefined) throw new Error(`discovered route ${o.name} has no exact service`)
  return s
}

/** Position (relative to `from`) of `r` in `a`, searched outwards from `near`. */
function positionNear (a: readonly RouteOptions[], from: number, r: RouteConfig, near: number): number {
  const n = a.length - from
  for (let d = 0; d < n; d++) {
    if (near + d < n && a[from + near + d] === r.options) return near + d
    if (near - d - 1 >= 0 && a[from + near - d - 1] === r.options) return near - d - 1
  }
  return n
}

function sameRange<T> (a: readonly T[], aFrom: number, aTo: number, b: readonly T[], bFrom: number, bTo: number): boolean {
  if (aTo - aFrom !== bTo - bFrom) return false
  for (let i = 0; i < aTo - aFrom; i++) if (a[aFrom + i] !== b[bFrom + i]) return false
  return true
}

/** The explicit routes: exact services indexed by position, the others scanned in order. */
class ExplicitRoutes {
  readonly #routes: readonly RouteConfig[]
  /** Positions of each exact service's routes, ascending. */
  readonly #byService = new Map<string, number[]>()
  /** Positions of the routes without an exact service, ascending. */
  readonly #generic: readonly number[]
  readonly boltReadsMethod: boolean

  constructor (options: readonly RouteOptions[], count: number, work: RouteTableWork) {
    const routes = new Array<RouteConfig>(count)
    const generic: number[] = []
    for (let i = 0; i < count; i++) {
      const o = options[i]
      routes[i] = compiledRoute(o, work)
      const svc = exactValue(o.match.service)
      if (svc === undefined) { generic.push(i); continue }
      const l = this.#byService.get(svc)
      if (l === undefined) this.#byService.set(svc, [i]); else l.push(i)
    }
    this.#routes = Object.freeze(routes)
    this.#generic = Object.freeze(generic)
    this.boltReadsMethod = routes.some(r => r.readsMethod('bolt'))
  }

  match (call: Call): RouteConfig | null {
    const routes = this.#routes
    const generic = this.#generic
    const exact = this.#byService.get(call.service)
    if (exact === undefined) {
      for (let i = 0; i < generic.length; i++) if (routes[generic[i]].matches(call)) return routes[generic[i]]
      return null
    }
    // Both lists are in config order: walk them together, lower position first.
    let a = 0
    let b = 0
    while (a < exact.length || b < generic.length) {
      const i = b >= generic.length || (a < exact.length && exact[a] < generic[b]) ? exact[a++] : generic[b++]
      if (routes[i].matches(call)) return routes[i]
    }
    return null
  }

  hasService (service: string): boolean { return this.#byService.has(service) }
}
