import type { Host } from './host.js'

/**
 * Per-label bitmaps over host positions: `label=value` -> bitset of the hosts carrying it.
 * A selector (several labels) is the AND of its bitmaps; results are cached per selector
 * key, and the whole index belongs to one immutable cluster snapshot.
 */
export class SubsetIndex {
  readonly #hosts: readonly Host[]
  readonly #words: number
  readonly #bitmaps = new Map<string, Uint32Array>()
  readonly #cache = new Map<string, readonly Host[]>()

  constructor (hosts: readonly Host[], labelsOf: (h: Host) => Readonly<Record<string, string>>) {
    this.#hosts = hosts
    this.#words = (hosts.length + 31) >>> 5
    // Hosts often share one labels object (discovery interns them): build its bitmap keys once.
    const keysOf = new Map<object, string[]>()
    for (let i = 0; i < hosts.length; i++) {
      const labels = labelsOf(hosts[i])
      let keys = keysOf.get(labels)
      if (keys === undefined) {
        keys = []
        for (const k in labels) keys.push(`${k}=${labels[k]}`)
        keysOf.set(labels, keys)
      }
      for (let j = 0; j < keys.length; j++) this.#bit(keys[j], i)
      if (hosts[i].zone !== '') this.#bit(`zone=${hosts[i].zone}`, i)
    }
  }

  #bit (key: string, i: number): void {
    let bm = this.#bitmaps.get(key)
    if (bm === undefined) { bm = new Uint32Array(this.#words); this.#bitmaps.set(key, bm) }
    bm[i >>> 5] |= 1 << (i & 31)
  }

  /** Hosts carrying every label of the selector (cached). An empty selector is all hosts. */
  select (selector: Readonly<Record<string, string>>): readonly Host[] {
    const key = selectorKey(selector)
    if (key === '') return this.#hosts
    const hit = this.#cache.get(key)
    if (hit !== undefined) return hit
    const result = this.#compute(selector)
    this.#cache.set(key, result)
    return result
  }

  #compute (selector: Readonly<Record<string, string>>): readonly Host[] {
    const acc = new Uint32Array(this.#words).fill(0xffffffff)
    for (const k in selector) {
      const bm = this.#bitmaps.get(`${k}=${selector[k]}`)
      if (bm === undefined) return EMPTY
      for (let w = 0; w < acc.length; w++) acc[w] &= bm[w]
    }
    const out: Host[] = []
    for (let w = 0; w < acc.length; w++) {
      let word = acc[w]
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word)
        const i = (w << 5) + bit
        if (i < this.#hosts.length) out.push(this.#hosts[i])
        word &= word - 1
      }
    }
    return Object.freeze(out)
  }

  /** Number of distinct label=value bitmaps (for metrics and benchmarks). */
  get bitmapCount (): number { return this.#bitmaps.size }
}

const EMPTY: readonly Host[] = Object.freeze([])

/** Stable key of a selector: sorted `k=v` joined by `,`. */
export function selectorKey (selector: Readonly<Record<string, string>>): string {
  const keys = Object.keys(selector)
  if (keys.length === 0) return ''
  if (keys.length === 1) return `${keys[0]}=${selector[keys[0]]}`
  keys.sort()
  let s = ''
  for (const k of keys) s += (s === '' ? '' : ',') + k + '=' + selector[k]
  return s
}
