/**
 * Records on their way from the gateway's thread to the trail thread: a ring buffer in shared
 * memory (one writer, one reader), so a call costs one UTF-8 write into it and no message or
 * string copy (a postMessage of the batched text cost ~0.7 µs of the event loop per record, the
 * ring ~0.2 µs: bench/audit-cost.ts). Lines are `<epoch ms>\t<call json>\n` (`<epoch ms>,<ref>\t...`
 * for a call that may get events: `ref` links them to its record), `G\t<count>\t<reason>\n` for
 * records dropped at the bound (declared in the trail in order), or
 * `E\t<ref>\t<epoch ms>\t<kind>\t<data json>\t<trace json>\n` for an event (`call.report`).
 * Positions are wrapping 32-bit counters in shared Int32 slots; a record never straddles the
 * end: a 0 byte there means "continue at 0" (JSON never holds a raw 0 byte).
 */
const W = 0
const R = 1

export class RecordRing {
  readonly size: number
  readonly #mask: number
  readonly #buf: Buffer
  readonly #pos: Int32Array
  /** The writer's own copy of the write position. */
  #w: number

  /** `positions` holds the write and read counters (two Int32 slots, shared). */
  constructor (buffer: SharedArrayBuffer, positions: Int32Array) {
    this.size = buffer.byteLength
    if ((this.size & (this.size - 1)) !== 0) throw new Error('ring size must be a power of two')
    this.#mask = this.size - 1
    this.#buf = Buffer.from(buffer)
    this.#pos = positions
    this.#w = Atomics.load(positions, W) >>> 0
  }

  /** A ring of the largest power of two <= `bytes` (at least 64 KiB, at most 1 GiB). */
  static allocate (bytes: number): SharedArrayBuffer {
    let size = 65536
    while (size * 2 <= bytes && size < 1 << 30) size *= 2
    return new SharedArrayBuffer(size)
  }

  /** Bytes written and not yet taken by the reader. */
  get used (): number { return (Atomics.load(this.#pos, W) - Atomics.load(this.#pos, R)) >>> 0 }

  /** Writer: one record. False when it does not fit (the caller counts it lost). */
  write (ms: number, json: string, ref = 0): boolean {
    const off = this.#reserve(json.length * 3 + 40)
    if (off < 0) return false
    const b = this.#buf
    let p = off + b.write(ref === 0 ? String(ms) : ms + ',' + ref, off, 'latin1')
    b[p++] = 9
    p += b.write(json, p, 'utf8')
    b[p++] = 10
    this.#commit(p - off)
    return true
  }

  /** Writer: declare `count` records lost, in order with the others. */
  writeGap (count: number, reason: string): boolean {
    const line = `G\t${count}\t${reason}\n`
    const off = this.#reserve(line.length * 3)
    if (off < 0) return false
    this.#commit(this.#buf.write(line, off, 'utf8'))
    return true
  }

  /** Writer: one whole line (an event: see above), ending in '\n'. False when it does not fit. */
  writeLine (line: string): boolean {
    const off = this.#reserve(line.length * 3)
    if (off < 0) return false
    this.#commit(this.#buf.write(line, off, 'utf8'))
    return true
  }

  /** Reader: hand every complete line written so far to `take` (whole lines, in order). Returns bytes taken. */
  drain (take: (text: string) => void): number {
    const b = this.#buf
    let r = Atomics.load(this.#pos, R) >>> 0
    const w = Atomics.load(this.#pos, W) >>> 0
    let taken = 0
    while (r !== w) {
      const off = r & this.#mask
      if (b[off] === 0) { r = (r + this.size - off) >>> 0; Atomics.store(this.#pos, R, r | 0); continue }
      const end = Math.min(this.size, off + ((w - r) >>> 0))
      const z = b.subarray(off, end).indexOf(0)
      const stop = z < 0 ? end : off + z
      take(b.toString('utf8', off, stop))
      // Moved only once the lines are taken: a reader that dies mid-way leaves them for the next.
      r = (r + (stop - off)) >>> 0
      Atomics.store(this.#pos, R, r | 0)
      taken += stop - off
    }
    return taken
  }

  /** Offset where `need` bytes fit contiguously (writing the wrap marker if needed), or -1. */
  #reserve (need: number): number {
    if (need > this.size >>> 1) return -1
    let w = this.#w
    const free = this.size - ((w - (Atomics.load(this.#pos, R) >>> 0)) >>> 0)
    let off = w & this.#mask
    if (off + need > this.size) {
      const skip = this.size - off
      if (free < skip + need) return -1
      this.#buf[off] = 0
      w = (w + skip) >>> 0
      this.#w = w
      Atomics.store(this.#pos, W, w | 0)
      off = 0
    } else if (free < need) {
      return -1
    }
    return off
  }

  #commit (bytes: number): void {
    this.#w = (this.#w + bytes) >>> 0
    Atomics.store(this.#pos, W, this.#w | 0)
  }
}
