/**
 * One HTTP/2 connection of the relay, either side: reads frames out of the socket's bytes,
 * answers the connection-level frames (SETTINGS, PING, WINDOW_UPDATE on stream 0) itself and
 * hands stream frames to relay-stream.ts. Output goes to the Outbox, flushed for every dirty
 * connection at the end of each socket read (flushAll).
 */
import type { Socket } from 'node:net'
import * as F from './frames.js'
import { HpackDecoder } from './hpack.js'
import { Outbox } from './outbox.js'
import type { Router, Stream } from './relay-stream.js'

export interface Limits {
  /** Stream window we advertise (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number
  /** Connection window we advertise (raised by a WINDOW_UPDATE right after SETTINGS). */
  connWindow: number
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise to clients. */
  maxStreams: number
}

export interface StreamHandlers {
  headers (c: Conn, sid: number, flags: number, block: Buffer, s: number, e: number): void
  data (c: Conn, sid: number, flags: number, b: Buffer, s: number, e: number, frameLen: number): void
  rst (c: Conn, sid: number, code: number): void
  goaway (c: Conn, lastSid: number, code: number): void
  /** The peer's stream window changed by `delta` for every open stream (its SETTINGS). */
  windowDelta (c: Conn, delta: number): void
  windowUpdate (c: Conn, sid: number, n: number): void
  closed (c: Conn): void
}

const dirty: Conn[] = []

/** Flush every connection written to since the last flush: once per read, not per frame. */
export function flushAll (): void {
  for (let i = 0; i < dirty.length; i++) { const c = dirty[i]; c.out.flush(c.socket) }
  dirty.length = 0
}

export class Conn {
  readonly out = new Outbox()
  readonly decoder = new HpackDecoder()
  readonly streams = new Map<number, Stream>()
  /** Streams with queued DATA waiting for this connection's send window. */
  readonly blocked = new Set<Stream>()
  /** Peer settings. */
  peerMaxFrame = 16384
  peerInitialWindow = 65535
  peerMaxStreams = Number.MAX_SAFE_INTEGER
  /** What we may still send on the connection / the peer may still send us. */
  sendWindow = 65535
  recvWindow: number
  /** Received DATA bytes consumed but not yet credited back to the peer. */
  recvCredit = 0
  /** Upstream: next stream id we open. Downstream: highest id the client opened. */
  nextId = 1
  lastPeerId = 0
  goingAway = false
  /** Downstream: where calls go (set by the relay that accepted the connection). */
  router: Router | null = null
  dead = false
  private needPreface: boolean
  private rest: Buffer | null = null
  /** Header block being assembled from HEADERS + CONTINUATION. */
  private hbSid = 0
  private hbFlags = 0
  private hbParts: Buffer[] = []

  constructor (readonly socket: Socket, readonly isUp: boolean, readonly limits: Limits, readonly h: StreamHandlers) {
    this.needPreface = !isUp
    this.recvWindow = limits.connWindow
    if (isUp) this.out.bytes(F.PREFACE, 0, F.PREFACE.length)
    // Our SETTINGS: no dynamic table (see hpack.ts), no push, our windows.
    this.out.header(18, F.SETTINGS, 0, 0)
    this.out.u16(F.S_HEADER_TABLE_SIZE); this.out.u32(0)
    if (isUp) { this.out.u16(F.S_ENABLE_PUSH); this.out.u32(0) } else { this.out.u16(F.S_MAX_CONCURRENT_STREAMS); this.out.u32(limits.maxStreams) }
    this.out.u16(F.S_INITIAL_WINDOW_SIZE); this.out.u32(limits.streamWindow)
    if (limits.connWindow > 65535) { this.out.header(4, F.WINDOW_UPDATE, 0, 0); this.out.u32(limits.connWindow - 65535) }
    this.touch()
  }

  touch (): void {
    if (!this.out.dirty) { this.out.dirty = true; dirty.push(this) }
  }

  /** Socket bytes in. Frames may straddle reads: only then are bytes copied (concat). */
  read (chunk: Buffer): void {
    let b = chunk
    if (this.rest !== null) { b = Buffer.concat([this.rest, chunk]); this.rest = null }
    let p = 0
    if (this.needPreface) {
      if (b.length < F.PREFACE.length) { this.rest = b; return }
      if (!b.subarray(0, F.PREFACE.length).equals(F.PREFACE)) { this.fail(F.PROTOCOL_ERROR); return }
      this.needPreface = false
      p = F.PREFACE.length
    }
    while (!this.dead && b.length - p >= F.FRAME_HEADER) {
      const len = (b[p] << 16) | (b[p + 1] << 8) | b[p + 2]
      if (len > F.OUR_MAX_FRAME) { this.fail(F.FRAME_SIZE_ERROR); return }
      if (b.length - p - F.FRAME_HEADER < len) break
      const type = b[p + 3]
      const flags = b[p + 4]
      const sid = b.readUInt32BE(p + 5) & 0x7fffffff
      const s = p + F.FRAME_HEADER
      p = s + len
      this.frame(type, flags, sid, b, s, p)
    }
    if (!this.dead && p < b.length) this.rest = b.subarray(p)
  }

  private frame (type: number, flags: number, sid: number, b: Buffer, s: number, e: number): void {
    if (this.hbSid !== 0 && type !== F.CONTINUATION) { this.fail(F.PROTOCOL_ERROR); return }
    switch (type) {
      case F.DATA: {
        if (sid === 0) { this.fail(F.PROTOCOL_ERROR); return }
        const len = e - s
        this.recvWindow -= len
        if (this.recvWindow < 0) { this.fail(F.FLOW_CONTROL_ERROR); return }
        let ds = s
        let de = e
        if ((flags & F.PADDED) !== 0) {
          if (len < 1 || b[s] >= len) { this.fail(F.PROTOCOL_ERROR); return }
          de = e - b[s]; ds = s + 1
          this.credit(len - (de - ds)) // padding is consumed on arrival
        }
        this.h.data(this, sid, flags, b, ds, de, len)
        return
      }
      case F.HEADERS: {
        if (sid === 0) { this.fail(F.PROTOCOL_ERROR); return }
        let hs = s
        let he = e
        if ((flags & F.PADDED) !== 0) { const pad = b[hs++]; he -= pad; if (he < hs) { this.fail(F.PROTOCOL_ERROR); return } }
        if ((flags & F.PRIORITY_FLAG) !== 0) hs += 5
        if (hs > he) { this.fail(F.PROTOCOL_ERROR); return }
        if ((flags & F.END_HEADERS) !== 0) { this.headerBlock(sid, flags, b, hs, he); return }
        this.hbSid = sid; this.hbFlags = flags; this.hbParts.push(b.subarray(hs, he))
        return
      }
      case F.CONTINUATION: {
        if (sid !== this.hbSid || sid === 0) { this.fail(F.PROTOCOL_ERROR); return }
        this.hbParts.push(b.subarray(s, e))
        if ((flags & F.END_HEADERS) === 0) return
        const block = Buffer.concat(this.hbParts)
        const hf = this.hbFlags
        this.hbParts.length = 0; this.hbSid = 0
        this.headerBlock(sid, hf, block, 0, block.length)
        return
      }
      case F.RST_STREAM:
        if (sid === 0 || e - s !== 4) { this.fail(F.PROTOCOL_ERROR); return }
        this.h.rst(this, sid, b.readUInt32BE(s)); return
      case F.SETTINGS: this.settings(flags, sid, b, s, e); return
      case F.PING:
        if (sid !== 0 || e - s !== 8) { this.fail(F.PROTOCOL_ERROR); return }
        if ((flags & F.ACK) === 0) { this.out.header(8, F.PING, F.ACK, 0); this.out.bytes(b, s, e); this.touch() }
        return
      case F.GOAWAY:
        if (sid !== 0 || e - s < 8) { this.fail(F.PROTOCOL_ERROR); return }
        this.goingAway = true
        this.h.goaway(this, b.readUInt32BE(s) & 0x7fffffff, b.readUInt32BE(s + 4)); return
      case F.WINDOW_UPDATE: {
        if (e - s !== 4) { this.fail(F.PROTOCOL_ERROR); return }
        const n = b.readUInt32BE(s) & 0x7fffffff
        if (sid !== 0) { this.h.windowUpdate(this, sid, n); return }
        if (n === 0 || this.sendWindow + n > F.MAX_WINDOW) { this.fail(F.FLOW_CONTROL_ERROR); return }
        this.sendWindow += n
        this.h.windowUpdate(this, 0, n)
        return
      }
      case F.PUSH_PROMISE: this.fail(F.PROTOCOL_ERROR); return // we disabled push
      default: return // PRIORITY and unknown types: ignored
    }
  }

  private headerBlock (sid: number, flags: number, b: Buffer, s: number, e: number): void {
    this.h.headers(this, sid, flags, b, s, e)
  }

  private settings (flags: number, sid: number, b: Buffer, s: number, e: number): void {
    if (sid !== 0) { this.fail(F.PROTOCOL_ERROR); return }
    if ((flags & F.ACK) !== 0) return
    if ((e - s) % 6 !== 0) { this.fail(F.FRAME_SIZE_ERROR); return }
    for (let p = s; p < e; p += 6) {
      const id = b.readUInt16BE(p)
      const v = b.readUInt32BE(p + 2)
      if (id === F.S_INITIAL_WINDOW_SIZE) {
        if (v > F.MAX_WINDOW) { this.fail(F.FLOW_CONTROL_ERROR); return }
        const delta = v - this.peerInitialWindow
        this.peerInitialWindow = v
        if (delta !== 0) this.h.windowDelta(this, delta)
      } else if (id === F.S_MAX_FRAME_SIZE) {
        if (v < 16384 || v > 16777215) { this.fail(F.PROTOCOL_ERROR); return }
        this.peerMaxFrame = v
      } else if (id === F.S_MAX_CONCURRENT_STREAMS) this.peerMaxStreams = v
    }
    this.out.header(0, F.SETTINGS, F.ACK, 0)
    this.touch()
  }

  /** `n` received DATA bytes have left the relay: credit the connection window in batches. */
  credit (n: number): void {
    this.recvCredit += n
    if (this.recvCredit >= this.limits.connWindow >>> 1) {
      this.out.header(4, F.WINDOW_UPDATE, 0, 0); this.out.u32(this.recvCredit)
      this.recvWindow += this.recvCredit
      this.recvCredit = 0
      this.touch()
    }
  }

  rstStream (sid: number, code: number): void {
    this.out.header(4, F.RST_STREAM, 0, sid); this.out.u32(code); this.touch()
  }

  /** A header block as HEADERS (+ CONTINUATION past the peer's frame size). */
  writeHeaders (sid: number, block: Buffer, s: number, e: number, endStream: boolean): void {
    const es = endStream ? F.END_STREAM : 0
    let n = Math.min(e - s, this.peerMaxFrame)
    this.out.header(n, F.HEADERS, es | (s + n === e ? F.END_HEADERS : 0), sid)
    this.out.bytes(block, s, s + n)
    s += n
    while (s < e) {
      n = Math.min(e - s, this.peerMaxFrame)
      this.out.header(n, F.CONTINUATION, s + n === e ? F.END_HEADERS : 0, sid)
      this.out.bytes(block, s, s + n)
      s += n
    }
    this.touch()
  }

  /** Connection error: GOAWAY with `code`, then close once written. */
  fail (code: number): void {
    if (this.dead) return
    this.out.header(8, F.GOAWAY, 0, 0); this.out.u32(this.lastPeerId); this.out.u32(code)
    this.out.flush(this.socket)
    this.dead = true
    this.socket.end()
    this.socket.destroySoon()
  }
}
