import { BoltFrame } from './command.js'
import { boltCrc } from './crc.js'
import { checkHeaderMap } from './header-view.js'
import {
  BoltCmd, BoltProto, BoltType, CRC_BYTES, V1_REQUEST_HEADER, V1_RESPONSE_HEADER,
  V2_REQUEST_HEADER, V2_RESPONSE_HEADER, type BoltLimitsConfig,
} from './types.js'

/** What a decoder reports to. Module-level functions or a class, never a closure per frame. */
export interface BoltFrameSink {
  onBoltFrame (frame: BoltFrame): void
  /**
   * The stream is unusable from here on. `requestId` is -1 when the bad bytes came before a
   * request id could be read; `proto`/`ver1` say how to answer (v1 when unknown).
   */
  onBoltCodecError (reason: string, requestId: number, proto: number, ver1: number, type: number): void
}

const enum Step { Need = 0, Error = -1 }
const enum Bits { Failed = 1, Held = 2, Stopped = 4, CheckCrc = 8 }

// The fixed-header fields of the frame frameLength last accepted, for frame() right after
// (module scratch: nothing runs between the two, and no per-connection fields).
let hProto = 0
let hVer1 = 0
let hType = 0
let hCmd = 0
let hId = 0
let hBase = 0
let hFixed = 0
let hClassLen = 0
let hHeaderLen = 0
let hContentLen = 0
let hCrc = false

/**
 * Streaming Bolt decoder, as a base class: a subclass is its own sink (a downstream
 * connection is one object, not a connection plus a decoder; BoltDecoder wraps a separate
 * sink). Frames that arrive whole in one read are delivered as slices of that read (no copy); a frame split across reads is copied once when its last byte
 * arrives. Pipelined frames in one read are delivered in order. Limits are enforced from the
 * fixed header alone, before any body byte is buffered, so a huge declared length costs
 * nothing. After an error the decoder ignores further input. Never throws.
 * `hold()` stops delivery at the next frame boundary, even inside one read (a paused socket
 * still hands over what it already read): the rest waits until `release()`.
 */
export abstract class BoltFrameReader implements BoltFrameSink {
  /** Bytes kept for later; null when none (most idle connections never need the array). */
  #pending: Buffer[] | null = null
  #pendingLen = 0
  /** Bytes the pending frame needs in total; 0 when not yet known. */
  #need = 0
  /**
   * Bits 0-3 (Bits.*): failed; held (backpressure: frames wait in `#pending` until
   * release()); stopped; check CRCs. The rest is the subclass's: one field for every yes/no
   * of a connection that lives for hours. Helpers are TypeScript-private, not #private, for
   * the same reason (a class with #methods puts a brand on every instance).
   */
  protected bits: number

  constructor (checkCrc = true) {
    this.bits = checkCrc ? Bits.CheckCrc : 0
  }

  /** The bounds frames are checked against (shared, e.g. the listener's). */
  protected abstract get frameLimits (): BoltLimitsConfig
  abstract onBoltFrame (frame: BoltFrame): void
  abstract onBoltCodecError (reason: string, requestId: number, proto: number, ver1: number, type: number): void

  /** Set by a sink that wants no more frames from this read (connection closing). */
  get stopped (): boolean { return (this.bits & Bits.Stopped) !== 0 }
  set stopped (v: boolean) { this.bits = v ? this.bits | Bits.Stopped : this.bits & ~Bits.Stopped }

  /** Bytes kept for later: an incomplete frame, or (while held) whatever was not delivered. */
  get buffered (): number { return this.#pendingLen }
  get failed (): boolean { return (this.bits & Bits.Failed) !== 0 }
  get held (): boolean { return (this.bits & Bits.Held) !== 0 }

  /** Deliver no more frames until release(); the frame being delivered now is the last. */
  hold (): void { this.bits |= Bits.Held }

  /** Deliver what waited (synchronously, in order), then go on as before. */
  release (): void {
    if (!this.held) return
    this.bits &= ~Bits.Held
    if (this.#pendingLen === 0 || this.failed || this.stopped) return
    const all = this.joined()
    this.reset()
    this.drain(all, 0)
  }

  push (chunk: Buffer): void {
    if (this.failed || this.stopped || chunk.length === 0) return
    if (this.#pendingLen === 0 && !this.held) { this.drain(chunk, 0); return }
    ;(this.#pending ??= []).push(chunk)
    this.#pendingLen += chunk.length
    if (this.held) return
    if (this.#need === 0) {
      if (this.#pendingLen < V2_REQUEST_HEADER && !this.headerKnowable()) return
      const joined = this.joined()
      this.#pending = [joined]
      const r = this.frameLength(joined, 0, joined.length)
      if (r === Step.Error) { this.reset(); return }
      if (r === Step.Need) return
      this.#need = r
    }
    if (this.#pendingLen < this.#need) return
    const all = this.joined()
    this.reset()
    this.drain(all, 0)
  }

  /** Whether the fixed header is complete even though fewer than 24 bytes arrived. */
  private headerKnowable (): boolean {
    const first = (this.#pending as Buffer[])[0]
    const proto = first[0]
    if (proto !== BoltProto.V1 && proto !== BoltProto.V2) return true // error is knowable now
    return this.#pendingLen >= V1_RESPONSE_HEADER
  }

  /** The pending bytes as one buffer (only called with some pending). */
  private joined (): Buffer {
    const p = this.#pending as Buffer[]
    return p.length === 1 ? p[0] : Buffer.concat(p, this.#pendingLen)
  }

  private reset (): void {
    this.#pending = null
    this.#pendingLen = 0
    this.#need = 0
  }

  private drain (b: Buffer, o: number): void {
    const len = b.length
    while (o < len) {
      if (this.failed || this.stopped) return
      if (this.held) {
        const rest = o === 0 ? b : b.subarray(o)
        this.#pending = [rest]
        this.#pendingLen = rest.length
        this.#need = 0
        return
      }
      const r = this.frameLength(b, o, len)
      if (r === Step.Error) return
      if (r === Step.Need || o + r > len) {
        const rest = o === 0 ? b : b.subarray(o)
        this.#pending = [rest]
        this.#pendingLen = rest.length
        this.#need = r === Step.Need ? 0 : r
        return
      }
      const frame = this.frame(b, o, r)
      o += r
      if (frame !== null) this.onBoltFrame(frame)
    }
  }

  /**
   * Total length of the frame at `o`, Step.Need when the fixed header is incomplete, or
   * Step.Error (already reported) when the header is invalid or over a limit.
   */
  private frameLength (b: Buffer, o: number, len: number): number {
    const avail = len - o
    const proto = b[o]
    let ver1 = 0
    let t = 0
    let fixed: number
    let base: number
    if (proto === BoltProto.V1) {
      if (avail < 2) return Step.Need
      t = b[o + 1]
      fixed = t === BoltType.RESPONSE ? V1_RESPONSE_HEADER : V1_REQUEST_HEADER
      base = o
    } else if (proto === BoltProto.V2) {
      if (avail < 3) return Step.Need
      ver1 = b[o + 1]
      t = b[o + 2]
      fixed = t === BoltType.RESPONSE ? V2_RESPONSE_HEADER : V2_REQUEST_HEADER
      base = o + 1
    } else {
      return this.error(`unknown protocol byte 0x${proto.toString(16)}`, -1, BoltProto.V1, 0, BoltType.REQUEST)
    }
    if (t > BoltType.ONEWAY) return this.error(`unknown command type ${t}`, -1, proto, ver1, BoltType.REQUEST)
    if (avail < fixed) return Step.Need
    const id = b.readUInt32BE(base + 5)
    const cmd = b.readUInt16BE(base + 2)
    if (cmd !== BoltCmd.HEARTBEAT && cmd !== BoltCmd.REQUEST && cmd !== BoltCmd.RESPONSE && cmd !== BoltCmd.GOAWAY) {
      return this.error(`unknown command code ${cmd}`, id, proto, ver1, t)
    }
    if (proto === BoltProto.V2 && ver1 !== 1 && ver1 !== 2) return this.error(`unknown protocol version ${ver1}`, id, proto, 1, t)
    // Lengths sit at the end of the fixed header in every shape: class i16, header i16, content i32.
    const classLen = b.readInt16BE(o + fixed - 8)
    const headerLen = b.readInt16BE(o + fixed - 6)
    const contentLen = b.readInt32BE(o + fixed - 4)
    if (classLen < 0 || headerLen < 0 || contentLen < 0) return this.error('negative length', id, proto, ver1, t)
    const lim = this.frameLimits
    if (classLen > lim.maxClassNameBytes) return this.error(`class name of ${classLen} bytes over the limit of ${lim.maxClassNameBytes}`, id, proto, ver1, t)
    if (headerLen > lim.maxHeaderBytes) return this.error(`header map of ${headerLen} bytes over the limit of ${lim.maxHeaderBytes}`, id, proto, ver1, t)
    const crc = proto === BoltProto.V2 && ver1 === 2 && (b[o + 11] & 1) === 1 ? CRC_BYTES : 0
    const total = fixed + classLen + headerLen + contentLen + crc
    if (total > lim.maxFrameBytes) return this.error(`frame of ${total} bytes over the limit of ${lim.maxFrameBytes}`, id, proto, ver1, t)
    hProto = proto; hVer1 = ver1; hType = t; hCmd = cmd; hId = id; hBase = base; hFixed = fixed
    hClassLen = classLen; hHeaderLen = headerLen; hContentLen = contentLen; hCrc = crc !== 0
    return total
  }

  /**
   * Build the frame at `o` (complete, `total` bytes) from the fixed-header fields frameLength
   * just read (module scratch, above: no second parse); null after reporting an error.
   */
  private frame (b: Buffer, o: number, total: number): BoltFrame | null {
    const proto = hProto
    const ver1 = hVer1
    const t = hType
    const id = hId
    const base = hBase
    const fixed = hFixed
    const classLen = hClassLen
    const headerLen = hHeaderLen
    const hasCrc = hCrc
    const v2 = proto === BoltProto.V2
    const hdr = v2 ? base + 11 : base + 10 // timeout (request) or status (response)
    const isResp = t === BoltType.RESPONSE
    if (hasCrc && (this.bits & Bits.CheckCrc) !== 0) {
      const end = o + total - CRC_BYTES
      if (boltCrc(b, o, end) !== b.readUInt32BE(end)) { this.error('bad CRC', id, proto, ver1, t); return null }
    }
    if (headerLen > 0) {
      const hs = o + fixed + classLen
      const bad = checkHeaderMap(b, hs, hs + headerLen, this.frameLimits.maxHeaderEntries)
      if (bad !== null) { this.error(bad, id, proto, ver1, t); return null }
    }
    return new BoltFrame(
      b.subarray(o, o + total), proto, ver1, t, hCmd, id, b[base + 9], v2 ? b[o + 11] : 0,
      isResp ? 0 : b.readInt32BE(hdr), isResp ? b.readUInt16BE(hdr) : -1,
      classLen, headerLen, hContentLen, fixed, hasCrc,
    )
  }

  private error (reason: string, id: number, proto: number, ver1: number, t: number): number {
    this.bits |= Bits.Failed
    this.reset()
    this.onBoltCodecError(reason, id, proto, ver1, t)
    return Step.Error
  }
}
