import type { Host } from './host.js'

/**
 * Per-label bitmaps over host positions: `label=value` -> bitset of the hosts carrying it.
 * A selector (several labels) is the AND of its bitmaps; results are cached per selector
 * key, and the whole index belongs to one immutable cluster snapshot.
 */
export class SubsetIndex {
  #hosts: readonly Host[]
  #words: number
  readonly #bitmaps = new Map<string, Uint32Array>()
  readonly #cache = new Map<string, readonly Host[]>()
  /** The host-position bitmap of each selected subset (a consistent-hash pick walks the
   *  cluster's ring with it instead of building a ring per subset). */
  readonly #members = new WeakMap<readonly Host[], Uint32Array>()

  constructor (hosts: readonly Host[], labelsOf: (h: Host) => Readonly<Record<string, string>> = labelsOfHost) {
    this.#hosts = hosts
    this.#words = (hosts.length + 31) >>> 5
    this.#mark(hosts, 0, hosts.length, labelsOf)
  }

  /**
   * The index of `hosts`, which is `prev`'s host list with `removed` hosts at `at` replaced by
   * `inserted` new ones (a one-host discovery delta). The bitmaps are copied with the tail
   * shifted, word by word, and only the inserted hosts' labels are read: O(bitmaps x words +
   * inserted) instead of O(hosts x labels). `prev` is left as it was (old snapshots keep it).
   */
  static spliced (prev: SubsetIndex, hosts: readonly Host[], at: number, removed: number, inserted: number,
    labelsOf: (h: Host) => Readonly<Record<string, string>> = labelsOfHost): SubsetIndex {
    const next = new SubsetIndex(EMPTY, labelsOf)
    next.#hosts = hosts
    next.#words = (hosts.length + 31) >>> 5
    const tail = prev.#hosts.length - at - removed
    for (const [key, bm] of prev.#bitmaps) {
      const out = new Uint32Array(next.#words)
      copyBits(bm, 0, out, 0, at)
      copyBits(bm, at + removed, out, at + inserted, tail)
      // A label no remaining host carries is dropped, as a fresh build would.
      let any = 0
      for (let w = 0; w < out.length && any === 0; w++) any = out[w]
      if (any !== 0) next.#bitmaps.set(key, out)
    }
    next.#mark(hosts, at, at + inserted, labelsOf)
    return next
  }

  /** Set the bits of hosts[from..to). */
  #mark (hosts: readonly Host[], from: number, to: number, labelsOf: (h: Host) => Readonly<Record<string, string>>): void {
    // Hosts often share one labels object (discovery interns them): build its bitmap keys once.
    const keysOf = new Map<object, string[]>()
    for (let i = from; i < to; i++) {
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
    const members = acc.slice()
    for (let w = 0; w < acc.length; w++) {
      let word = acc[w]
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word)
        const i = (w << 5) + bit
        if (i < this.#hosts.length) out.push(this.#hosts[i])
        word &= word - 1
      }
    }
    // Bits past the last host (the all-ones start) are not members.
    const tail = this.#hosts.length & 31
    if (tail !== 0 && members.length > 0) members[members.length - 1] &= (1 << tail) - 1
    const result = Object.freeze(out)
    this.#members.set(result, members)
    return result
  }

  /** The bitmap over host positions of a list `select` returned; undefined for any other. */
  membersOf (subset: readonly Host[]): Uint32Array | undefined { return this.#members.get(subset) }

  /** Number of distinct label=value bitmaps (for metrics and benchmarks). */
  get bitmapCount (): number { return this.#bitmaps.size }
}

const EMPTY: readonly Host[] = Object.freeze([])

function labelsOfHost (h: Host): Readonly<Record<string, string>> { return h.labels }

/**
 * OR `count` bits of `src` starting at bit `from` into `dst` starting at bit `to` (the
 * destination range is still zero). Works a destination word at a time: at most two source
 * words are read per destination word, whatever the shift.
 */
export function copyBits (src: Uint32Array, from: number, dst: Uint32Array, to: number, count: number): void {
  if (count <= 0) return
  if ((from & 31) === 0 && (to & 31) === 0) {
    // Aligned (a prefix, or a shift by whole words): copy whole words, mask the last one.
    const whole = count >>> 5
    dst.set(src.subarray(from >>> 5, (from >>> 5) + whole), to >>> 5)
    const rest = count & 31
    if (rest !== 0) dst[(to >>> 5) + whole] |= src[(from >>> 5) + whole] & ((1 << rest) - 1)
    return
  }
  let done = 0
  while (done < count) {
    const d = to + done
    const dOff = d & 31
    const n = Math.min(32 - dOff, count - done)
    const s = from + done
    const w = s >>> 5
    const o = s & 31
    let bits = src[w] >>> o
    if (o !== 0 && o + n > 32) bits |= src[w + 1] << (32 - o)
    const mask = n === 32 ? 0xffffffff : (1 << n) - 1
    dst[d >>> 5] |= (bits & mask) << dOff
    done += n
  }
}

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
