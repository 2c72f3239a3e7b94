import type { CallHeaders } from '../../call/headers.js'

/**
 * The Bolt header map (`[i32 keyLen][key][i32 valLen][value]`, -1 = null) seen through the
 * raw bytes: `get` walks the bytes and compares key bytes, so a call materialises only the
 * values it reads (PERF: 0.6 µs vs 2.6 µs for a full Map decode of a 12-pair SOFARPC map).
 * The first `set`/`delete` copies the pairs into a Map and sets `changed`, which tells the
 * forwarder to re-encode the header map instead of forwarding the frame raw.
 */
export class BoltHeaderView implements CallHeaders {
  changed = false
  #buf: Buffer
  #start: number
  #end: number
  #map: Map<string, string> | null = null

  constructor (buf: Buffer, start: number, end: number) {
    this.#buf = buf
    this.#start = start
    this.#end = end
  }

  get (name: string): string | undefined {
    if (this.#map !== null) return this.#map.get(name)
    const b = this.#buf
    let p = this.#start
    const end = this.#end
    const n = byteLength(name)
    while (p + 4 <= end) {
      const kl = b.readInt32BE(p); p += 4
      const ks = p
      if (kl > 0) p += kl
      if (p + 4 > end) return undefined
      const vl = b.readInt32BE(p); p += 4
      const vs = p
      if (vl > 0) p += vl
      if (p > end) return undefined
      if (kl === n && vl >= 0 && keyEquals(b, ks, name)) return vl === 0 ? '' : b.toString('utf8', vs, vs + vl)
    }
    return undefined
  }

  set (name: string, value: string): void {
    this.#materialize().set(name, value)
    this.changed = true
  }

  delete (name: string): void {
    const m = this.#materialize()
    if (m.delete(name)) this.changed = true
  }

  entries (): Array<[string, string]> {
    return [...this.#materialize().entries()]
  }

  /** The header map bytes to send: the original slice when unchanged. */
  encode (): Buffer {
    if (this.#map === null) return this.#buf.subarray(this.#start, this.#end)
    return encodeHeaderMap(this.#map)
  }

  #materialize (): Map<string, string> {
    if (this.#map === null) this.#map = decodeHeaderMap(this.#buf, this.#start, this.#end)
    return this.#map
  }
}

function byteLength (s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s)
  return s.length
}

/** Compare key bytes with an ASCII/UTF-8 name of the same byte length (fast path for ASCII). */
function keyEquals (b: Buffer, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c > 0x7f) return b.toString('utf8', at, at + Buffer.byteLength(name)) === name
    if (b[at + i] !== c) return false
  }
  return true
}

/** Full decode (pairs with a null key or value are dropped, as Java does). Tolerates truncation. */
export function decodeHeaderMap (b: Buffer, start = 0, end = b.length): Map<string, string> {
  const m = new Map<string, string>()
  let p = start
  while (p + 4 <= end) {
    const kl = b.readInt32BE(p); p += 4
    const ks = p
    if (kl > 0) p += kl
    if (p + 4 > end) break
    const vl = b.readInt32BE(p); p += 4
    const vs = p
    if (vl > 0) p += vl
    if (p > end) break
    if (kl < 0 || vl < 0) continue
    m.set(b.toString('utf8', ks, ks + kl), b.toString('utf8', vs, vs + vl))
  }
  return m
}

export function encodeHeaderMap (m: ReadonlyMap<string, string> | Iterable<readonly [string, string]>): Buffer {
  const pairs = m instanceof Map ? [...m.entries()] : [...(m as Iterable<readonly [string, string]>)]
  let size = 0
  const enc: Buffer[] = []
  for (const [k, v] of pairs) {
    const kb = Buffer.from(k, 'utf8')
    const vb = Buffer.from(v, 'utf8')
    enc.push(kb, vb)
    size += 8 + kb.length + vb.length
  }
  const out = Buffer.allocUnsafe(size)
  let p = 0
  for (let i = 0; i < enc.length; i += 2) {
    p = out.writeInt32BE(enc[i].length, p); p += enc[i].copy(out, p)
    p = out.writeInt32BE(enc[i + 1].length, p); p += enc[i + 1].copy(out, p)
  }
  return out
}

/**
 * Check a header map's structure against the limits without materialising it.
 * Returns null when valid, else the reason.
 */
export function checkHeaderMap (b: Buffer, start: number, end: number, maxEntries: number): string | null {
  let p = start
  let n = 0
  while (p < end) {
    if (p + 4 > end) return 'truncated header map key length'
    const kl = b.readInt32BE(p); p += 4
    if (kl < -1 || kl > end - p) return 'bad header map key length'
    if (kl > 0) p += kl
    if (p + 4 > end) return 'truncated header map value length'
    const vl = b.readInt32BE(p); p += 4
    if (vl < -1 || vl > end - p) return 'bad header map value length'
    if (vl > 0) p += vl
    if (++n > maxEntries) return 'too many header map entries'
  }
  return null
}
