/**
 * An immutable string-keyed map whose update copies only what changed: the keys hash into a
 * fixed number of small Maps, and `with(changes)` copies the bucket array (256 pointers) and
 * the buckets it touches. With 10,000 keys a one-key update copies ~40 entries instead of all
 * 10,000 (a `new Map(old)` of 10,000 entries took 1.5 to 3.5 ms here); a lookup costs a short
 * string hash and one Map.get. Used where one admin push changes a few keys of a big map that
 * every snapshot carries (clusters by name, discovered routes by service).
 */
const BUCKETS = 256
const EMPTY: ReadonlyMap<string, never> = new Map<string, never>()

/** FNV-1a over the key (cheap, stable; the bucket spread is all it needs). */
function bucketOf (key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h ^ (h >>> 16)) & (BUCKETS - 1)
}

export class ChunkedMap<V> implements ReadonlyMap<string, V> {
  readonly #buckets: ReadonlyArray<ReadonlyMap<string, V>>
  readonly size: number

  private constructor (buckets: ReadonlyArray<ReadonlyMap<string, V>>, size: number) {
    this.#buckets = buckets
    this.size = size
  }

  static empty<V> (): ChunkedMap<V> {
    return new ChunkedMap<V>(new Array<ReadonlyMap<string, V>>(BUCKETS).fill(EMPTY), 0)
  }

  static from<V> (entries: Iterable<readonly [string, V]>): ChunkedMap<V> {
    return ChunkedMap.empty<V>().with(entries)
  }

  get (key: string): V | undefined { return this.#buckets[bucketOf(key)].get(key) }
  has (key: string): boolean { return this.#buckets[bucketOf(key)].has(key) }

  /** A new map with these keys set (`undefined`: deleted); this one is left as it was. */
  with (changes: Iterable<readonly [string, V | undefined]>): ChunkedMap<V> {
    let buckets: Array<ReadonlyMap<string, V>> | null = null
    const copied = new Set<number>()
    let size = this.size
    for (const [k, v] of changes) {
      const b = bucketOf(k)
      if (buckets === null) buckets = this.#buckets.slice()
      let m = buckets[b] as Map<string, V>
      if (!copied.has(b)) { m = new Map(m); buckets[b] = m; copied.add(b) }
      const had = m.has(k)
      if (v === undefined) { if (had) { m.delete(k); size-- } } else { m.set(k, v); if (!had) size++ }
    }
    return buckets === null ? this : new ChunkedMap(buckets, size)
  }

  * entries (): MapIterator<[string, V]> { for (const m of this.#buckets) yield * m.entries() }
  * keys (): MapIterator<string> { for (const m of this.#buckets) yield * m.keys() }
  * values (): MapIterator<V> { for (const m of this.#buckets) yield * m.values() }
  [Symbol.iterator] (): MapIterator<[string, V]> { return this.entries() }
  forEach (fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const m of this.#buckets) for (const [k, v] of m) fn(v, k, this)
  }
}
