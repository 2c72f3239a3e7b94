import type { Call } from '../call/call.js'
import type { HeaderMatch, RetryOptions, RouteOptions } from '../config/options.js'
import { compileStringMatch, type StringMatcher } from './string-matcher.js'

type HeaderPredicate = (call: Call) => boolean

/** A compiled route: predicates built once per revision, read per call. */
export class RouteConfig {
  readonly name: string
  readonly cluster: string
  readonly subset: Readonly<Record<string, string>> | null
  readonly timeoutMs: number
  readonly requireMethod: boolean
  /** Retry policy (README "Retries"); null: no retries. */
  readonly retry: Readonly<RetryOptions> | null
  readonly options: Readonly<RouteOptions>
  readonly #protocol: string | undefined
  readonly #service: StringMatcher
  readonly #method: StringMatcher
  readonly #version: string | undefined
  readonly #group: string | undefined
  readonly #headers: readonly HeaderPredicate[]

  constructor (o: Readonly<RouteOptions>) {
    this.name = o.name
    this.cluster = o.cluster
    this.subset = o.subset !== undefined ? Object.freeze({ ...o.subset }) : null
    this.timeoutMs = o.timeoutMs
    this.requireMethod = o.requireMethod === true
    this.retry = o.retry !== undefined && o.retry.attempts > 1 ? Object.freeze({ ...o.retry, on: Object.freeze([...o.retry.on]) as RetryOptions['on'] }) : null
    this.options = o
    this.#protocol = o.match.protocol
    this.#service = compileStringMatch(o.match.service)
    this.#method = compileStringMatch(o.match.method)
    this.#version = o.match.version
    this.#group = o.match.group
    this.#headers = Object.freeze((o.match.headers ?? []).map(compileHeaderMatch))
  }

  /** Does the call match? A call whose method could not be read ('') never matches a
   *  method predicate (fail closed: it falls through to later routes). */
  matches (call: Call): boolean {
    if (this.#protocol !== undefined && this.#protocol !== call.protocol) return false
    if (this.#service !== null && !this.#service(call.service)) return false
    if (this.#version !== undefined && this.#version !== call.version) return false
    if (this.#group !== undefined && this.#group !== call.group) return false
    if (this.#method !== null && (call.method === '' || !this.#method(call.method))) return false
    for (let i = 0; i < this.#headers.length; i++) if (!this.#headers[i](call)) return false
    return true
  }

  get hasMethodMatch (): boolean { return this.#method !== null }

  /** Whether calls of `protocol` need their method read to be routed by this route. */
  readsMethod (protocol: string): boolean {
    return (this.#method !== null || this.requireMethod) && (this.#protocol === undefined || this.#protocol === protocol)
  }
}

function compileHeaderMatch (h: HeaderMatch): HeaderPredicate {
  const name = h.name
  if (h.present === false) return call => call.headers.get(name) === undefined
  const value = compileStringMatch(h.exact !== undefined ? { exact: h.exact } : h.prefix !== undefined ? { prefix: h.prefix } : h.regex !== undefined ? { regex: h.regex } : undefined)
  if (value === null) return call => call.headers.get(name) !== undefined
  return call => { const v = call.headers.get(name); return v !== undefined && value(v) }
}
