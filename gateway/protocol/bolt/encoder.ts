import type { BoltFrame } from './command.js'
import { boltCrc } from './crc.js'
import {
  BoltCmd, BoltCodec, BoltProto, BoltType, CRC_BYTES, V1_REQUEST_HEADER, V1_RESPONSE_HEADER, V2_REQUEST_HEADER,
  V2_RESPONSE_HEADER, requestIdOffset,
} from './types.js'

export interface BoltEncodeOptions {
  proto: number
  /** v2 only: 1 (no CRC) or 2 (CRC allowed). Default 1. */
  ver1?: number
  /** v2 only: switch byte; bit 0 asks for a CRC (emitted only with ver1 = 2). */
  switchByte?: number
  type: number
  cmd: number
  requestId: number
  codec?: number
  /** Request timeout (ms). */
  timeout?: number
  /** Response status. */
  status?: number
  className?: Buffer | string
  header?: Buffer
  content?: Buffer
}

const EMPTY = Buffer.alloc(0)

/** Encode one frame. We emit a CRC only when ver1 = 2 and switch bit 0 is set (strict). */
export function encodeFrame (o: BoltEncodeOptions): Buffer {
  const v2 = o.proto === BoltProto.V2
  const resp = o.type === BoltType.RESPONSE
  const fixed = resp ? (v2 ? V2_RESPONSE_HEADER : V1_RESPONSE_HEADER) : (v2 ? V2_REQUEST_HEADER : V1_REQUEST_HEADER)
  const cls = o.className === undefined ? EMPTY : typeof o.className === 'string' ? Buffer.from(o.className, 'latin1') : o.className
  const hdr = o.header ?? EMPTY
  const content = o.content ?? EMPTY
  const ver1 = v2 ? (o.ver1 ?? 1) : 0
  const sw = v2 ? (o.switchByte ?? 0) : 0
  const crc = v2 && ver1 === 2 && (sw & 1) === 1
  const total = fixed + cls.length + hdr.length + content.length + (crc ? CRC_BYTES : 0)
  const b = Buffer.allocUnsafe(total)
  let p = 0
  b[p++] = o.proto
  if (v2) b[p++] = ver1
  b[p++] = o.type
  p = b.writeUInt16BE(o.cmd, p)
  b[p++] = 1 // ver2
  p = b.writeUInt32BE(o.requestId >>> 0, p)
  b[p++] = o.codec ?? BoltCodec.HESSIAN2
  if (v2) b[p++] = sw
  if (resp) p = b.writeUInt16BE(o.status ?? 0, p)
  else p = b.writeInt32BE(o.timeout ?? 0, p)
  p = b.writeInt16BE(cls.length, p)
  p = b.writeInt16BE(hdr.length, p)
  p = b.writeInt32BE(content.length, p)
  p += cls.copy(b, p)
  p += hdr.copy(b, p)
  p += content.copy(b, p)
  if (crc) b.writeUInt32BE(boltCrc(b, 0, p), p)
  return b
}

/** A heartbeat request (22 bytes v1, 24 v2), timeout 3000 ms as Java sends. */
export function encodeHeartbeat (requestId: number, proto: number = BoltProto.V1, ver1 = 1): Buffer {
  return encodeFrame({ proto, ver1, type: BoltType.REQUEST, cmd: BoltCmd.HEARTBEAT, requestId, timeout: 3000 })
}

/** A heartbeat ack answering `frame` in its own version (and with a CRC if it had one). */
export function encodeHeartbeatAck (frame: Pick<BoltFrame, 'proto' | 'ver1' | 'switchByte' | 'requestId' | 'codec'>): Buffer {
  return encodeFrame({
    proto: frame.proto, ver1: frame.ver1, switchByte: frame.switchByte, type: BoltType.RESPONSE,
    cmd: BoltCmd.HEARTBEAT, requestId: frame.requestId, codec: frame.codec, status: 0,
  })
}

/** GoAway (MOSN's cmd 100): the server is draining; send no new requests on this connection. */
export function encodeGoAway (proto: number = BoltProto.V1, ver1 = 1): Buffer {
  return encodeFrame({ proto, ver1, type: BoltType.REQUEST, cmd: BoltCmd.GOAWAY, requestId: 0 })
}

/**
 * Patch the request id of a raw frame in place and recompute its CRC, the forwarding fast
 * path (MOSN's encoder): header and content are untouched, nothing is copied.
 */
export function patchRequestId (buf: Buffer, requestId: number, hasCrc: boolean): void {
  buf.writeUInt32BE(requestId >>> 0, requestIdOffset(buf[0]))
  if (hasCrc) {
    const end = buf.length - CRC_BYTES
    buf.writeUInt32BE(boltCrc(buf, 0, end), end)
  }
}

/**
 * Make a v2 frame's switch byte say what its bytes are: sofa-bolt-node reads a CRC exactly
 * when switch == 0x01 (whatever ver1), the gateway and Java when ver1 == 2 and bit 0 is set.
 * Forwarded as sent, a frame they disagree on (ver1 1 with switch 1; switch 3 with a CRC)
 * desyncs a sofa-rpc-node upstream's stream and it closes the shared connection. Call before
 * the request id (and so the CRC) is patched.
 */
export function normalizeSwitch (buf: Buffer, hasCrc: boolean): void {
  if (buf[0] !== BoltProto.V2) return
  buf[V2_SWITCH_OFFSET] = hasCrc ? 0x01 : buf[V2_SWITCH_OFFSET] & 0xfe
}
const V2_SWITCH_OFFSET = 11

/** Patch a request's timeout field in place (the CRC is fixed by patchRequestId after). */
export function patchTimeout (buf: Buffer, timeoutMs: number): void {
  buf.writeInt32BE(timeoutMs | 0, buf[0] === BoltProto.V2 ? 12 : 10)
}

/** A header map that writes itself into a frame (BoltHeaderView: raw bytes plus appended pairs). */
export interface BoltHeaderWriter {
  encodedLength (): number
  writeTo (out: Buffer, at: number): number
}

/**
 * Re-encode a frame around an edited header map of `headerLen` bytes (a filter changed
 * headers): one allocation, the header written in place, class and content copied.
 */
export function reencodeWithHeaders (frame: BoltFrame, headers: BoltHeaderWriter, headerLen: number, requestId: number): Buffer {
  const src = frame.buf
  const fixed = frame.fixedLen
  const cls = frame.classLen
  const contentStart = frame.contentStart
  const contentEnd = frame.contentEnd
  const b = Buffer.allocUnsafe(fixed + cls + headerLen + (contentEnd - contentStart) + (frame.hasCrc ? CRC_BYTES : 0))
  src.copy(b, 0, 0, fixed + cls)
  b.writeInt16BE(headerLen, fixed - 6)
  let p = headers.writeTo(b, fixed + cls)
  p += src.copy(b, p, contentStart, contentEnd)
  b.writeUInt32BE(requestId >>> 0, requestIdOffset(b[0]))
  if (frame.hasCrc) b.writeUInt32BE(boltCrc(b, 0, p), p)
  return b
}

/** Re-encode a frame with a new header map (a filter changed headers); same id and fields. */
export function reencodeWithHeader (frame: BoltFrame, header: Buffer, requestId: number): Buffer {
  const src = frame.buf
  const fixed = frame.fixedLen
  const cls = frame.classLen
  const contentStart = frame.contentStart
  const contentEnd = frame.contentEnd
  const total = fixed + cls + header.length + (contentEnd - contentStart) + (frame.hasCrc ? CRC_BYTES : 0)
  const b = Buffer.allocUnsafe(total)
  src.copy(b, 0, 0, fixed + cls)
  b.writeInt16BE(header.length, fixed - 6)
  let p = fixed + cls
  p += header.copy(b, p)
  p += src.copy(b, p, contentStart, contentEnd)
  b.writeUInt32BE(requestId >>> 0, requestIdOffset(b[0]))
  if (frame.hasCrc) b.writeUInt32BE(boltCrc(b, 0, p), p)
  return b
}
