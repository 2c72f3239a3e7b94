import type { Call } from '../call/call.js'
import type { RouteOptions } from '../config/options.js'
import { RouteConfig } from './route.js'
import { exactValue } from './string-matcher.js'

/**
 * First match in config order wins. Routes with an exact service are indexed, so a call
 * only tests the routes of its own service plus the non-exact ones (merged in order once,
 * at compile time).
 */
export class RouteTable {
  readonly routes: readonly RouteConfig[]
  readonly #byService = new Map<string, readonly RouteConfig[]>()
  readonly #generic: readonly RouteConfig[]
  /** Some Bolt route matches or requires the method (the listener then reads it from the body). */
  readonly boltReadsMethod: boolean

  constructor (options: readonly RouteOptions[]) {
    this.routes = Object.freeze(options.map(o => new RouteConfig(o)))
    const generic: RouteConfig[] = []
    const exact = new Map<string, number[]>()
    this.routes.forEach((r, i) => {
      const svc = exactValue(r.options.match.service)
      if (svc === undefined) generic.push(r)
      else { const l = exact.get(svc); if (l === undefined) exact.set(svc, [i]); else l.push(i) }
    })
    this.#generic = Object.freeze(generic)
    this.boltReadsMethod = this.routes.some(r => r.readsMethod('bolt'))
    for (const [svc, idx] of exact) {
      const merged = this.routes.filter((r, i) => idx.includes(i) || exactValue(r.options.match.service) === undefined)
      this.#byService.set(svc, Object.freeze(merged))
    }
  }

  match (call: Call): RouteConfig | null {
    const list = this.#byService.get(call.service) ?? this.#generic
    for (let i = 0; i < list.length; i++) if (list[i].matches(call)) return list[i]
    return null
  }
}
