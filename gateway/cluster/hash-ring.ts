/**
 * The consistent-hash ring of a cluster (Ketama-style: 64 virtual nodes per unit of weight),
 * built when the cluster is built, at compile time, never on the call path (issue 9 item 12:
 * built in pick() on the first call after every swap, 0.5 s at 1,000 hosts and 8 s at 10,000).
 * A ring is kept per host array (the same frozen array after a swap that left the hosts alone
 * reuses it), a small host delta splices the previous ring instead of building it again, and
 * a subset of the cluster walks the cluster's ring skipping non-members (the subset's bitmap),
 * which picks exactly what a ring of the subset's hosts would, with nothing to build.
 *
 * Points are FNV-1a of `<host id>#<n>` (the same points as before, so keys keep their hosts
 * across the upgrade), packed with their owner into one float64 and sorted natively.
 */
import { fnv1aFinish, fnv1aState } from './hash.js'
import type { Host } from './host.js'

const VNODES = 64
/** Points of one ring at most (32 MB of arrays); beyond it every host's share is scaled down. */
const MAX_POINTS = 1 << 22
/** Owners are host positions below 2^21 (packed with a 32-bit point into 53 bits). */
const OWNER_BITS = 2 ** 21
const HASH_CHAR = 0x23 // '#'

/** Rings built so far (tests count them: a call never builds one). */
export const ringStats = { built: 0, spliced: 0 }

export class HashRing {
  /** Sorted points, and the position (in `hosts`) of the host owning each. */
  readonly points: Uint32Array
  readonly owners: Uint32Array
  readonly hosts: readonly Host[]

  private constructor (hosts: readonly Host[], points: Uint32Array, owners: Uint32Array) {
    this.hosts = hosts
    this.points = points
    this.owners = owners
  }

  /** The ring of `hosts` (built once per array). */
  static of (hosts: readonly Host[]): HashRing {
    let r = rings.get(hosts)
    if (r === undefined) { r = HashRing.#build(hosts); rings.set(hosts, r) }
    return r
  }

  /**
   * The ring of `hosts`, which is `prev.hosts` with `removed` hosts at `at` replaced by
   * `inserted` new ones: the removed hosts' points go, the new ones' are merged in, the
   * owners after the splice shift. O(points) array work, no sort of the whole ring.
   */
  static spliced (prev: HashRing, hosts: readonly Host[], at: number, removed: number, inserted: number): HashRing {
    const hit = rings.get(hosts)
    if (hit !== undefined) return hit
    if (scaleOf(hosts) !== 1 || scaleOf(prev.hosts) !== 1 || hosts.length >= OWNER_BITS) return HashRing.of(hosts)
    const fresh = pointsOf(hosts, at, at + inserted, 1)
    const fp = new Uint32Array(fresh.length)
    const fo = new Uint32Array(fresh.length)
    for (let j = 0; j < fresh.length; j++) { fp[j] = Math.floor(fresh[j] / OWNER_BITS); fo[j] = fresh[j] % OWNER_BITS }
    const shift = inserted - removed
    const end = at + removed
    const pp = prev.points
    const po = prev.owners
    const n = pp.length
    const points = new Uint32Array(n + fp.length)
    const owners = new Uint32Array(n + fp.length)
    let i = 0
    let j = 0
    let k = 0
    // One merge pass: drop the removed hosts' points, shift the owners after the splice, and
    // order equal points by owner, as the sort of a fresh build does.
    while (i < n || j < fp.length) {
      if (i < n) {
        const o = po[i]
        if (o >= at && o < end) { i++; continue }
        const owner = o >= end ? o + shift : o
        if (j >= fp.length || pp[i] < fp[j] || (pp[i] === fp[j] && owner < fo[j])) {
          points[k] = pp[i]
          owners[k++] = owner
          i++
          continue
        }
      }
      points[k] = fp[j]
      owners[k++] = fo[j]
      j++
    }
    const r = new HashRing(hosts, points.subarray(0, k), owners.subarray(0, k))
    ringStats.spliced++
    rings.set(hosts, r)
    return r
  }

  static #build (hosts: readonly Host[]): HashRing {
    if (hosts.length >= OWNER_BITS) throw new RangeError(`a consistent-hash cluster holds at most ${OWNER_BITS - 1} hosts`)
    const packed = pointsOf(hosts, 0, hosts.length, scaleOf(hosts))
    const points = new Uint32Array(packed.length)
    const owners = new Uint32Array(packed.length)
    for (let i = 0; i < packed.length; i++) {
      points[i] = Math.floor(packed[i] / OWNER_BITS)
      owners[i] = packed[i] % OWNER_BITS
    }
    ringStats.built++
    return new HashRing(hosts, points, owners)
  }

  /**
   * The first available host at or after `hash` on the ring; with `members` (a bitmap over
   * host positions), the first available member. Null when none is available.
   */
  pick (hash: number, now: number, members: Uint32Array | null): Host | null {
    const pts = this.points
    const n = pts.length
    if (n === 0) return null
    let lo = 0
    let hi = n
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (pts[mid] < hash) lo = mid + 1; else hi = mid }
    for (let i = 0; i < n; i++) {
      const o = this.owners[(lo + i) % n]
      if (members !== null && (members[o >>> 5] & (1 << (o & 31))) === 0) continue
      const host = this.hosts[o]
      if (host.isAvailable(now)) return host
    }
    return null
  }
}

const rings = new WeakMap<readonly Host[], HashRing>()

/** Share of 64 x weight points each host gets (1 unless the ring would pass MAX_POINTS). */
function scaleOf (hosts: readonly Host[]): number {
  let total = 0
  for (const h of hosts) total += VNODES * h.weight
  return total <= MAX_POINTS ? 1 : MAX_POINTS / total
}

/** Packed (point * 2^21 + owner) values of hosts[from..to), sorted. */
function pointsOf (hosts: readonly Host[], from: number, to: number, scale: number): Float64Array {
  let total = 0
  const counts = new Uint32Array(to - from)
  for (let i = from; i < to; i++) { counts[i - from] = Math.max(1, Math.floor(VNODES * hosts[i].weight * scale)); total += counts[i - from] }
  const out = new Float64Array(total)
  let k = 0
  for (let i = from; i < to; i++) {
    // FNV-1a of `${id}#` once, then of each vnode number's digits: fnv1a(`${id}#${v}`).
    const base = fnv1aState(hosts[i].id, undefined, HASH_CHAR)
    for (let v = 0; v < counts[i - from]; v++) out[k++] = fnv1aFinish(digits(base, v)) * OWNER_BITS + i
  }
  out.sort()
  return out
}

/** FNV-1a state after feeding the decimal digits of `v`. */
function digits (h: number, v: number): number {
  if (v >= 10) h = digits(h, Math.floor(v / 10))
  return Math.imul(h ^ (0x30 + (v % 10)), 0x01000193)
}
