import type { LocalReply } from '../../chain/local-reply.js'
import { BoltStatus } from '../../errors.js'
import { encodeFrame } from './encoder.js'
import { BoltCmd, BoltCodec, BoltProto, BoltType, RPC_SERVER_EXCEPTION_CLASS, requestIdOffset } from './types.js'
import { boltCrc } from './crc.js'

/**
 * Gateway outcomes -> Bolt response frames. The status comes from the error table
 * (gateway/errors.ts: no route / no host -> NO_PROCESSOR, timeout -> TIMEOUT, denied ->
 * SERVER_EXCEPTION, limited -> SERVER_THREADPOOL_BUSY). SOFA clients (Java bolt and
 * sofa-rpc-node) decode the content of a non-SUCCESS response as a hessian2
 * `RpcServerException` and show its `detailMessage`; with an empty body sofa-rpc-node only
 * says "Server exception when invoke with callback", so we always send that object.
 */

/** Which shape the reply must take: the request's version, CRC choice and id. */
export interface ReplyShape {
  readonly proto: number
  readonly ver1: number
  readonly switchByte: number
  readonly requestId: number
}

const MAX_MESSAGE_CHARS = 1000

/** hessian2 string: length in UTF-16 units, bytes in UTF-8 (BMP only; others become '?'). */
function hessianString (s: string): Buffer {
  let safe = s.replace(/[\ud800-\udfff]/g, '?')
  if (safe.length > MAX_MESSAGE_CHARS) safe = safe.slice(0, MAX_MESSAGE_CHARS)
  const body = Buffer.from(safe, 'utf8')
  const n = safe.length
  if (n < 32) return Buffer.concat([Buffer.from([n]), body])
  return Buffer.concat([Buffer.from([0x53, n >> 8, n & 0xff]), body]) // 'S' + u16: both hessian flavours read it
}

/** Hessian compact int for 0..47 (one byte) or up to 2047 (two bytes). */
function hessianInt (n: number): Buffer {
  return n <= 47 ? Buffer.from([0x90 + n]) : Buffer.from([0xc8 + (n >> 8), n & 0xff])
}

/**
 * hessian2 body of `RpcServerException { detailMessage, stackTrace: [], cause: null }` in
 * the encoding SOFA's hessian.js-1 reads and writes (sofa-rpc-node, sofa-bolt-node): an
 * 'O' class definition (type as int length + raw bytes, field count, field names), an 'o'
 * instance of definition 0, then the field values; the empty stack trace is a typed list
 * ('V' 't' type 'n' 0 'z'). Checked byte for byte against sofa-bolt-node's own encoder.
 */
export function rpcServerExceptionBody (message: string): Buffer {
  const type = Buffer.from(RPC_SERVER_EXCEPTION_CLASS, 'latin1')
  const listType = Buffer.from('[java.lang.StackTraceElement', 'latin1')
  const lt = Buffer.alloc(2); lt.writeUInt16BE(listType.length)
  return Buffer.concat([
    Buffer.from('O', 'latin1'), hessianInt(type.length), type, hessianInt(3),
    hessianString('detailMessage'), hessianString('stackTrace'), hessianString('cause'),
    Buffer.from('o', 'latin1'), hessianInt(0),
    hessianString(message),
    Buffer.from('Vt', 'latin1'), lt, listType, Buffer.from([0x6e, 0x00, 0x7a]),
    Buffer.from('N', 'latin1'),
  ])
}

/** An error response frame with `status` and `message` shaped like the request. */
export function errorResponseFrame (shape: ReplyShape, status: number, message: string): Buffer {
  return encodeFrame({
    proto: shape.proto, ver1: shape.ver1, switchByte: shape.proto === BoltProto.V2 ? shape.switchByte : 0,
    type: BoltType.RESPONSE, cmd: BoltCmd.RESPONSE, requestId: shape.requestId, codec: BoltCodec.HESSIAN2,
    status, className: RPC_SERVER_EXCEPTION_CLASS, content: rpcServerExceptionBody(message),
  })
}

// Prebuilt per LocalReply and shape (v1, v2, v2+CRC); each use copies the template and
// patches the id (a write may still hold the previous copy).
const templates = new WeakMap<LocalReply, Array<Buffer | undefined>>()

function shapeIndex (s: ReplyShape): number {
  if (s.proto !== BoltProto.V2) return 0
  return s.ver1 === 2 && (s.switchByte & 1) === 1 ? 2 : 1
}

/** The response frame for a local reply, for the request of `shape`. */
export function localReplyFrame (reply: LocalReply, shape: ReplyShape): Buffer {
  let list = templates.get(reply)
  if (list === undefined) { list = [undefined, undefined, undefined]; templates.set(reply, list) }
  const i = shapeIndex(shape)
  let t = list[i]
  if (t === undefined) {
    t = errorResponseFrame({ proto: shape.proto, ver1: i === 0 ? 0 : i === 2 ? 2 : 1, switchByte: i === 2 ? 1 : 0, requestId: 0 }, statusOf(reply), replyText(reply))
    list[i] = t
  }
  const b = Buffer.allocUnsafe(t.length)
  t.copy(b)
  b.writeUInt32BE(shape.requestId >>> 0, requestIdOffset(b[0]))
  if (i === 2) b.writeUInt32BE(boltCrc(b, 0, b.length - 4), b.length - 4)
  return b
}

/** What the SOFA client shows: the stable code first, then the message. */
export function replyText (reply: Pick<LocalReply, 'code' | 'message'>): string {
  return `${reply.code}: ${reply.message}`
}

function statusOf (reply: LocalReply): number {
  return reply.boltStatus >= 0 ? reply.boltStatus : BoltStatus.SERVER_EXCEPTION
}
