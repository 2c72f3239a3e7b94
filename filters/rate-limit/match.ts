/** Which calls a rate-limit rule (or an adaptive priority) applies to: service, method, caller entity/app, route. */
import { compileStringMatch, type Call, type StringMatch, type StringMatcher } from '../../gateway/index.js'

export interface MatchOptions {
  service?: StringMatch
  method?: StringMatch
  /** Caller entity / app: the verified token identity, else the mTLS peer. */
  entity?: StringMatch
  app?: StringMatch
  /** Route name. */
  route?: StringMatch
}

export class RuleMatch {
  readonly #service: StringMatcher
  readonly #method: StringMatcher
  readonly #entity: StringMatcher
  readonly #app: StringMatcher
  readonly #route: StringMatcher

  constructor (o: MatchOptions) {
    this.#service = compileStringMatch(o.service)
    this.#method = compileStringMatch(o.method)
    this.#entity = compileStringMatch(o.entity)
    this.#app = compileStringMatch(o.app)
    this.#route = compileStringMatch(o.route)
  }

  /** A field the call lacks (no method on a sofa-rpc-node hessian call, no caller) never matches. */
  matches (call: Call): boolean {
    if (this.#service !== null && !this.#service(call.service)) return false
    if (this.#method !== null && (call.method === '' || !this.#method(call.method))) return false
    if (this.#entity !== null || this.#app !== null) {
      const c = call.caller
      if (this.#entity !== null && (c?.entity === undefined || !this.#entity(c.entity))) return false
      if (this.#app !== null && (c?.app === undefined || !this.#app(c.app))) return false
    }
    if (this.#route !== null && (call.route === null || !this.#route(call.route.name))) return false
    return true
  }
}
