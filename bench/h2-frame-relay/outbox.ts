/**
 * A connection's pending output, flushed once per socket read (haproxy-style batching). Frame
 * headers and small payloads are copied into a 64 KiB slab (one allocation per 64 KiB of
 * output, not per frame); large payloads are queued as the slices they arrived in (no copy).
 * A flush is one write, or one corked writev when there are slices.
 */
import type { Socket } from 'node:net'

const SLAB = 64 * 1024
/** Payloads at least this big are sent as their own chunk instead of copied. */
const COPY_LIMIT = 2048

export class Outbox {
  private slab = Buffer.allocUnsafeSlow(SLAB)
  private start = 0
  private pos = 0
  private chunks: Buffer[] = []
  /** On the module's dirty list for the flush at the end of this read. */
  dirty = false

  get empty (): boolean { return this.pos === this.start && this.chunks.length === 0 }

  private room (n: number): void {
    if (this.pos + n <= this.slab.length) return
    this.seal()
    this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB, n))
    this.start = this.pos = 0
  }

  /** Move the slab's unsent bytes to the chunk list (before a slice, to keep the order). */
  private seal (): void {
    if (this.pos > this.start) { this.chunks.push(this.slab.subarray(this.start, this.pos)); this.start = this.pos }
  }

  header (len: number, type: number, flags: number, sid: number): void {
    this.room(9)
    const b = this.slab
    const p = this.pos
    b[p] = len >>> 16; b[p + 1] = (len >>> 8) & 0xff; b[p + 2] = len & 0xff
    b[p + 3] = type; b[p + 4] = flags
    b.writeUInt32BE(sid >>> 0, p + 5)
    this.pos = p + 9
  }

  u32 (v: number): void {
    this.room(4)
    this.slab.writeUInt32BE(v >>> 0, this.pos)
    this.pos += 4
  }

  u16 (v: number): void {
    this.room(2)
    this.slab.writeUInt16BE(v, this.pos)
    this.pos += 2
  }

  bytes (src: Buffer, s: number, e: number): void {
    const n = e - s
    if (n >= COPY_LIMIT) { this.seal(); this.chunks.push(s === 0 && e === src.length ? src : src.subarray(s, e)); return }
    this.room(n)
    src.copy(this.slab, this.pos, s, e)
    this.pos += n
  }

  flush (socket: Socket): void {
    this.dirty = false
    if (socket.destroyed) { this.chunks.length = 0; this.start = this.pos; return }
    if (this.chunks.length === 0) {
      if (this.pos > this.start) { socket.write(this.slab.subarray(this.start, this.pos)); this.start = this.pos }
      return
    }
    this.seal()
    socket.cork()
    for (const c of this.chunks) socket.write(c)
    socket.uncork()
    this.chunks.length = 0
  }
}
