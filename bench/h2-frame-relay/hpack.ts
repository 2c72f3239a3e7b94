/**
 * HPACK (RFC 7541) for a relay. The relay advertises SETTINGS_HEADER_TABLE_SIZE = 0 to both
 * sides, so once a peer has applied it (a size update to 0 at the start of its next block) its
 * blocks hold only static-table references and literals: such a block means the same to any
 * decoder, and the relay forwards its bytes as they are, reading only `:path`. Blocks sent
 * before that (the first requests of a connection) go through the full decoder, dynamic table
 * included, and are re-encoded as literals without indexing.
 */
import { huffmanDecode } from './huffman.js'

const STATIC: ReadonlyArray<readonly [string, string]> = [
  ['', ''], [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'],
  [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''],
  ['authorization', ''], ['cache-control', ''], ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''],
  ['content-length', ''], ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''],
  ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
]
const STATIC_LEN = 61
/** Largest table size a peer may switch to before it has our SETTINGS (the protocol default). */
const DEFAULT_TABLE = 4096

export const enum Scan { Verbatim, Decoded, Error }

/** One connection's receiving HPACK context. */
export class HpackDecoder {
  /** Newest entry last. */
  private names: string[] = []
  private values: string[] = []
  private size = 0
  private maxSize = DEFAULT_TABLE
  /** Set by scan(): the request's `:path` (when asked for), where the verbatim bytes start. */
  path: string | null = null
  bodyStart = 0
  /** Set by scan() on Scan.Decoded: the header list, name/value interleaved. */
  readonly list: string[] = []
  private pos = 0

  /**
   * Read one complete header block. Verbatim: the bytes from `bodyStart` may be forwarded as
   * they are. Decoded: `list` holds the headers (re-encode them). Error: COMPRESSION_ERROR.
   */
  scan (b: Buffer, start: number, end: number, wantPath: boolean): Scan {
    this.path = null
    this.pos = start
    // Size updates come first in a block; stripped from what is forwarded.
    while (this.pos < end && (b[this.pos] & 0xe0) === 0x20) {
      const n = this.int(b, end, 5)
      if (n < 0 || n > DEFAULT_TABLE) return Scan.Error
      this.maxSize = n
      this.evict(0)
    }
    this.bodyStart = this.pos
    return this.maxSize === 0 && this.size === 0 ? this.scanLight(b, end, wantPath) : this.scanFull(b, end)
  }

  /** Empty table that stays empty: only static indices are valid, literals are skipped unread. */
  private scanLight (b: Buffer, end: number, wantPath: boolean): Scan {
    while (this.pos < end) {
      const c = b[this.pos]
      if ((c & 0x80) !== 0) {
        const i = this.int(b, end, 7)
        if (i <= 0 || i > STATIC_LEN) return Scan.Error
        if (wantPath && (i === 4 || i === 5)) this.path = STATIC[i][1]
        continue
      }
      if ((c & 0xe0) === 0x20) return Scan.Error // size update after the first field
      const nameIdx = this.int(b, end, (c & 0x40) !== 0 ? 6 : 4)
      if (nameIdx < 0 || nameIdx > STATIC_LEN) return Scan.Error
      let isPath = nameIdx === 4
      if (nameIdx === 0) {
        if (!wantPath) { if (!this.skipString(b, end)) return Scan.Error } else {
          const name = this.string(b, end)
          if (name === null) return Scan.Error
          isPath = name === ':path'
        }
      }
      if (wantPath && isPath) {
        const v = this.string(b, end)
        if (v === null) return Scan.Error
        this.path = v
      } else if (!this.skipString(b, end)) return Scan.Error
    }
    return Scan.Verbatim
  }

  private scanFull (b: Buffer, end: number): Scan {
    const list = this.list
    list.length = 0
    while (this.pos < end) {
      const c = b[this.pos]
      let name: string | null
      let value: string | null
      if ((c & 0x80) !== 0) {
        const i = this.int(b, end, 7)
        if (i <= 0) return Scan.Error
        name = this.nameAt(i)
        value = this.valueAt(i)
        if (name === null || value === null) return Scan.Error
      } else if ((c & 0xe0) === 0x20) {
        return Scan.Error
      } else {
        const indexed = (c & 0x40) !== 0
        const nameIdx = this.int(b, end, indexed ? 6 : 4)
        if (nameIdx < 0) return Scan.Error
        name = nameIdx === 0 ? this.string(b, end) : this.nameAt(nameIdx)
        value = this.string(b, end)
        if (name === null || value === null) return Scan.Error
        if (indexed) this.insert(name, value)
      }
      if (name === ':path') this.path = value
      list.push(name, value)
    }
    return Scan.Decoded
  }

  private nameAt (i: number): string | null {
    if (i <= STATIC_LEN) return STATIC[i][0]
    const k = this.names.length - 1 - (i - STATIC_LEN - 1)
    return k >= 0 ? this.names[k] : null
  }

  private valueAt (i: number): string | null {
    if (i <= STATIC_LEN) return STATIC[i][1]
    const k = this.values.length - 1 - (i - STATIC_LEN - 1)
    return k >= 0 ? this.values[k] : null
  }

  private insert (name: string, value: string): void {
    const sz = 32 + name.length + value.length // latin1 strings: one char per octet
    if (sz > this.maxSize) { this.evict(0); this.names.length = 0; this.values.length = 0; this.size = 0; return }
    this.evict(this.maxSize - sz)
    this.names.push(name)
    this.values.push(value)
    this.size += sz
  }

  /** Drop oldest entries until the table holds at most `limit` octets. */
  private evict (limit: number): void {
    while (this.size > limit && this.names.length > 0) {
      this.size -= 32 + this.names[0].length + this.values[0].length
      this.names.shift()
      this.values.shift()
    }
  }

  /** An N-bit-prefix integer at `pos`; -1 if truncated or too large. */
  private int (b: Buffer, end: number, prefix: number): number {
    if (this.pos >= end) return -1
    const max = (1 << prefix) - 1
    let v = b[this.pos++] & max
    if (v < max) return v
    let shift = 0
    for (;;) {
      if (this.pos >= end || shift > 21) return -1
      const x = b[this.pos++]
      v += (x & 0x7f) * 2 ** shift
      shift += 7
      if ((x & 0x80) === 0) return v
    }
  }

  private string (b: Buffer, end: number): string | null {
    if (this.pos >= end) return null
    const huff = (b[this.pos] & 0x80) !== 0
    const n = this.int(b, end, 7)
    if (n < 0 || this.pos + n > end) return null
    const s = this.pos
    this.pos += n
    return huff ? huffmanDecode(b, s, s + n) : b.toString('latin1', s, s + n)
  }

  private skipString (b: Buffer, end: number): boolean {
    const n = this.int(b, end, 7)
    if (n < 0 || this.pos + n > end) return false
    this.pos += n
    return true
  }
}

/** Literal-without-indexing, raw strings: meaningful to any decoder, whatever its table. */
export function encodeLiterals (list: readonly string[]): Buffer {
  let n = 0
  for (const s of list) n += 5 + Buffer.byteLength(s, 'latin1')
  const out = Buffer.allocUnsafe(n + list.length)
  let p = 0
  for (let i = 0; i < list.length; i += 2) {
    out[p++] = 0x00
    p = putString(out, p, list[i])
    p = putString(out, p, list[i + 1])
  }
  return out.subarray(0, p)
}

function putString (out: Buffer, p: number, s: string): number {
  const len = s.length
  if (len < 127) out[p++] = len
  else {
    out[p++] = 127
    let v = len - 127
    while (v >= 128) { out[p++] = (v & 0x7f) | 0x80; v >>>= 7 }
    out[p++] = v
  }
  return p + out.write(s, p, 'latin1')
}
