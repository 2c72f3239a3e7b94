/**
 * Brute-force bound on the console login: per source address, at most `maxFailures` refused
 * tokens within `windowMs` (the window opens at the first refusal); past it every login from
 * that address answers 429 with Retry-After until the window closes, without the token being
 * checked (a throttled attempt must not tell a right token from a wrong one). A successful
 * login clears the address's count. In memory, one table per admin server, bounded by
 * `maxSources` addresses (least recently seen go first) so spoofed or many sources cost a
 * fixed amount. IPv6 sources count per /64 (one host usually holds a whole /64).
 */
import { isIPv6 } from 'node:net'
import { LRUCache } from 'lru-cache'

export const DEFAULT_MAX_SOURCES = 10000
export const DEFAULT_LOGIN_MAX_FAILURES = 5
export const DEFAULT_LOGIN_WINDOW_MS = 60000

interface Window { start: number, failures: number }

export class LoginLimiter {
  readonly maxFailures: number
  readonly windowMs: number
  readonly #windows: LRUCache<string, Window>

  constructor (maxFailures: number, windowMs: number, maxSources = DEFAULT_MAX_SOURCES) {
    this.maxFailures = maxFailures
    this.windowMs = windowMs
    this.#windows = new LRUCache<string, Window>({ max: maxSources })
  }

  /** Milliseconds until `source` may try again (0: it may try now). */
  blockedFor (source: string | undefined, now = Date.now()): number {
    const w = this.#window(source, now)
    if (w === undefined || w.failures < this.maxFailures) return 0
    return w.start + this.windowMs - now
  }

  /** A refused token from `source`. */
  fail (source: string | undefined, now = Date.now()): void {
    const key = sourceKey(source)
    const w = this.#window(source, now)
    if (w === undefined) this.#windows.set(key, { start: now, failures: 1 })
    else w.failures++
  }

  /** A successful login: the address starts afresh. */
  succeed (source: string | undefined): void { this.#windows.delete(sourceKey(source)) }

  get sources (): number { return this.#windows.size }

  /** The address's open window (an expired one is dropped). */
  #window (source: string | undefined, now: number): Window | undefined {
    const key = sourceKey(source)
    const w = this.#windows.get(key)
    if (w !== undefined && w.start + this.windowMs <= now) { this.#windows.delete(key); return undefined }
    return w
  }
}

/** The table key of a source address: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64. */
export function sourceKey (source: string | undefined): string {
  if (source === undefined || source === '') return 'unknown'
  if (source.startsWith('::ffff:') && source.includes('.')) return source.slice(7)
  if (!isIPv6(source)) return source
  return expandIPv6(source).slice(0, 4).join(':') + '::/64'
}

/** The eight 16-bit groups of an IPv6 address (with `::` expanded, a zone id dropped). */
function expandIPv6 (a: string): string[] {
  const bare = a.split('%')[0]
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, null]
  const h = head === '' ? [] : head.split(':')
  const t = tail === null || tail === '' ? [] : tail.split(':')
  const fill = tail === null ? [] : new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0')
  return [...h, ...fill, ...t].map(g => g.toLowerCase().replace(/^0+(?=.)/, ''))
}
