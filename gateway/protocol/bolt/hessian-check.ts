import type { BoltFrame } from './command.js'
import type { BoltHeaderView } from './header-view.js'
import { BoltCodec, HEADER_METHOD, HEADER_TARGET_SERVICE, SOFA_REQUEST_CLASS } from './types.js'

/**
 * Is a Bolt request's hessian2 content one a sofa-rpc-node provider can decode? Its decoder
 * (sofa-bolt-node -> sofa-hessian-node "3.0" = hessian.js-1 DecoderV2, the Hessian 2 draft)
 * throws on the first bad byte and the provider then closes the whole connection, failing
 * every call the gateway multiplexes on it. So the gateway skips through the content first
 * and answers a bad request itself (SERVER_DESERIAL_EXCEPTION, as Java SOFABolt does).
 *
 * What that decoder throws on, and so what is refused here: an unknown tag byte; a value,
 * length or string running past the content; a string byte that is not a 1-3 byte UTF-8
 * lead (it reads CESU-8 and throws on 0x80-0xbf and 0xf0-0xff); an object instance whose
 * class index was never defined; with the provider's class cache on (the default), a class
 * name or field name that is not a JS identifier (it compiles a decoder from them), and a
 * SofaRequest definition other than sofa-rpc-node's (see SOFA_REQUEST_FIELDS). Also
 * refused, stricter than the decoder but never written by an encoder: refs to objects or
 * types not yet seen, negative lengths, arrays without their end byte, nesting deeper than
 * MAX_DEPTH (the decoder recurses: a deep enough nest overflows its stack).
 *
 * A SofaRequest is read as its decoder does: one object, then one value per entry of its
 * `methodArgSigs`; any other class name is one value. Content in the final Hessian 2 dialect
 * (Java: starts with a 'C' class definition) is not judged (hessian.js-1 cannot decode it at
 * all; Java providers answer for themselves); nor is protobuf content (its schema is the
 * provider's), but a protobuf request must have what sofa-bolt-node's protobuf decoder reads
 * before it: the SofaRequest class name and the target service and method headers.
 *
 * Allocation-free: module-level cursor and tables (the check never re-enters itself).
 */

/** Nesting bound (objects, lists, maps inside each other). */
export const MAX_DEPTH = 64
/** Class definitions and types per request (each fits in a table slot). */
const MAX_CLASSES = 256

const SOFA_REQUEST = Buffer.from(SOFA_REQUEST_CLASS, 'latin1')
const METHOD_ARG_SIGS = Buffer.from('methodArgSigs', 'latin1')
const EMPTY = Buffer.alloc(0)

let buf: Buffer = EMPTY
let pos = 0
let lim = 0
let refs = 0
let types = 0
let classes = 0
/** Field count per class definition, and the index of its `methodArgSigs` field (-1: none). */
const classFields = new Int32Array(MAX_CLASSES)
const classArgSigs = new Int32Array(MAX_CLASSES)
/** Length of the last list skipped (what `methodArgSigs.length` would be); -1 for null. */
let lastList = -1
/**
 * The last content's leading class definition (sofa-rpc-node sends the same SofaRequest
 * definition in every request) and what it defined: the same bytes again are known good,
 * one native compare instead of a walk. Replaced (a copy) when the bytes change.
 */
let memo: Buffer = EMPTY
let memoFields = 0
let memoSigs = -1
/** The last refusal was a class redefined (for its reason). */
let redefined = false
const MEMO_MAX = 1024
/**
 * The provider's class cache (per connection, or shared) keeps the first definition of a
 * class name and field count, and for later ones skips that many bytes of field names
 * unread: a definition of other length desyncs its decoder, which throws and closes the
 * connection; and it reads the values by the cached names, not the sent ones. A request
 * could so poison the cache for every later caller; for the class every request carries the
 * gateway pins the definition to sofa-rpc-node's (its five fields, in its order). Other
 * classes are not pinned (README: residual risk).
 */
const SOFA_REQUEST_FIELDS = Buffer.concat(['methodName', 'methodArgSigs', 'targetServiceUniqueName', 'targetAppName', 'requestProps']
  .map(f => Buffer.concat([Buffer.from([f.length]), Buffer.from(f, 'latin1')])))
const SOFA_REQUEST_FIELD_COUNT = 5

/**
 * '' when the request's content may be forwarded, else why not (a short reason). A codec
 * other than hessian2 and protobuf is refused unless listed in `passCodecs`: sofa-bolt-node
 * has no decoder for it and throws (closing the connection); Java-only serializers (JSON,
 * ...) between Java peers are listed there.
 */
export function checkBoltContent (frame: BoltFrame, headers: BoltHeaderView, passCodecs: readonly number[] | undefined): string {
  const codec = frame.codec
  if (codec !== BoltCodec.HESSIAN2) {
    if (codec === BoltCodec.PROTOBUF) return protobufRequest(frame, headers)
    if (passCodecs !== undefined && passCodecs.includes(codec)) return ''
    return `serialization type ${codec} is not hessian2 (1) or protobuf (11)`
  }
  const start = frame.contentStart
  const end = frame.contentEnd
  if (end > start && frame.buf[start] === 0x43) return '' // final dialect: not ours to judge
  return checkHessianContent(frame.buf, frame.classStart, frame.headerStart, start, end)
}

/** The check on raw spans: class name [cs, ce), content [s, e). Exported for tests and benches. */
export function checkHessianContent (b: Buffer, cs: number, ce: number, s: number, e: number): string {
  buf = b
  pos = s
  lim = e
  refs = 0
  types = 0
  classes = 0
  redefined = false
  let r: string
  if (isSofaRequest(cs, ce)) r = sofaRequest()
  else if (s === e) r = 'empty content'
  else r = value(0) ? '' : at()
  buf = EMPTY // keep no reference to the frame
  return r
}

function protobufRequest (frame: BoltFrame, headers: BoltHeaderView): string {
  buf = frame.buf
  const cls = bytesAre(SOFA_REQUEST, frame.classStart, frame.headerStart) // not trimmed here
  buf = EMPTY
  if (!cls) return 'a protobuf request whose class is not SofaRequest'
  const svc = headers.get(HEADER_TARGET_SERVICE)
  const m = headers.get(HEADER_METHOD)
  if (svc === undefined || svc === '' || m === undefined || m === '') return `a protobuf request without ${HEADER_TARGET_SERVICE} and ${HEADER_METHOD}`
  return ''
}

function at (): string {
  if (redefined) return 'a SofaRequest class definition with other field names than sofa-rpc-node\'s (a provider\'s class cache would misread it)'
  return pos >= lim ? 'truncated content' : `bad hessian2 byte 0x${buf[pos].toString(16)} at ${pos}`
}

function isSofaRequest (cs: number, ce: number): boolean {
  // The decoder trims the class name before looking its handler up.
  while (cs < ce && buf[cs] <= 0x20) cs++
  while (ce > cs && buf[ce - 1] <= 0x20) ce--
  return bytesAre(SOFA_REQUEST, cs, ce)
}

function sofaRequest (): string {
  lastList = -1
  if (pos >= lim || (buf[pos] !== 0x4f && buf[pos] !== 0x6f)) return pos >= lim ? 'empty content' : 'the content is not a SofaRequest object'
  const sigs = object(0, true)
  if (sigs < -1) return at()
  for (let i = 0; i < sigs; i++) if (!value(0)) return at()
  return ''
}

/** One value of any kind; false when it cannot be decoded. */
function value (depth: number): boolean {
  if (pos >= lim) return false
  const t = buf[pos]
  if (t <= 0x1f || t === 0x53 || t === 0x73) return string()
  if (t >= 0x80) { // ints 0x80-0xd7, longs 0xd8-0xff
    if (t <= 0xbf || (t >= 0xd8 && t <= 0xef)) return skip(1)
    if (t <= 0xcf || t >= 0xf0) return skip(2)
    return skip(3) // 0xd0-0xd7
  }
  switch (t) {
    case 0x4e: case 0x54: case 0x46: case 0x67: case 0x68: return skip(1) // N T F, double 0.0 1.0
    case 0x69: return skip(2)
    case 0x6a: return skip(3)
    case 0x49: case 0x77: case 0x6b: return skip(5) // int, long as int, float
    case 0x4c: case 0x44: case 0x64: return skip(9) // long, double, date
    case 0x4a: return ref(2)
    case 0x4b: return ref(3)
    case 0x52: return ref(5)
    case 0x42: case 0x62: return bytes()
    case 0x4f: case 0x6f: return object(depth, false) >= -1
    case 0x56: case 0x76: return list(depth)
    case 0x48: pos++; refs++; return mapEntries(depth)
    case 0x4d: pos++; if (!type()) return false; refs++; return mapEntries(depth)
  }
  if (t >= 0x38 && t <= 0x3f) return skip(3) // long, 3 bytes
  if (t >= 0x20 && t <= 0x2f) return skip(1 + t - 0x20) // short binary
  return false
}

function skip (n: number): boolean {
  if (pos + n > lim) return false
  pos += n
  return true
}

/** 'J' u8 / 'K' u16 / 'R' i32: a ref to an object, list or map already read. */
function ref (n: number): boolean {
  if (pos + n > lim) return false
  const p = pos + 1
  const id = n === 2 ? buf[p] : n === 3 ? buf.readUInt16BE(p) : buf.readInt32BE(p)
  pos += n
  return id >= 0 && id < refs
}

/** A draft int (compact 1-3 bytes or 'I' i32); BAD when it is not one. */
const BAD = -0x80000001
function int (): number {
  if (pos >= lim) return BAD
  const b = buf[pos]
  if (b >= 0x80 && b <= 0xbf) { pos++; return b - 0x90 }
  if (b >= 0xc0 && b <= 0xcf) {
    if (pos + 2 > lim) return BAD
    const v = ((b - 0xc8) << 8) + buf[pos + 1]; pos += 2; return v
  }
  if (b >= 0xd0 && b <= 0xd7) {
    if (pos + 3 > lim) return BAD
    const v = ((b - 0xd4) << 16) + (buf[pos + 1] << 8) + buf[pos + 2]; pos += 3; return v
  }
  if (b === 0x49) {
    if (pos + 5 > lim) return BAD
    const v = buf.readInt32BE(pos + 1); pos += 5; return v
  }
  return BAD
}

/** `n` characters of CESU-8 as the decoder reads them (1-3 byte sequences only). */
function chars (n: number): boolean {
  const b = buf
  let p = pos
  // ASCII first (almost every name and most strings): one compare per byte.
  const ascii = Math.min(pos + n, lim)
  while (p < ascii && b[p] < 0x80) p++
  for (let i = p - pos; i < n; i++) {
    if (p >= lim) return false
    const c = b[p]
    if (c < 0x80) p += 1
    else if ((c & 0xe0) === 0xc0) p += 2
    else if ((c & 0xf0) === 0xe0) p += 3
    else return false
  }
  if (p > lim) return false
  pos = p
  return true
}

/** Where the last string's (single-chunk) characters start and end; -1 start if chunked. */
let strStart = 0
let strEnd = 0

/** A draft string: 's' u16 chunks, then 0x00-0x1f short or 'S' u16 final. */
function string (): boolean {
  strStart = -1
  for (;;) {
    if (pos >= lim) return false
    const t = buf[pos]
    let n: number
    if (t <= 0x1f) { n = t; pos++ } else if (t === 0x53 || t === 0x73) {
      if (pos + 3 > lim) return false
      n = buf.readUInt16BE(pos + 1); pos += 3
    } else return false
    const first = strStart === -1 && t !== 0x73
    const s = pos
    if (!chars(n)) return false
    if (t !== 0x73) {
      if (first) { strStart = s; strEnd = pos } else strStart = -2
      return true
    }
    strStart = -2
  }
}

/** Binary: 'b' u16 chunks then 'B' u16 or a short 0x20-0x2f final chunk. */
function bytes (): boolean {
  for (;;) {
    if (pos >= lim) return false
    const t = buf[pos]
    if (t >= 0x20 && t <= 0x2f) return skip(1 + t - 0x20)
    if (t !== 0x42 && t !== 0x62) return false
    if (pos + 3 > lim) return false
    const n = buf.readUInt16BE(pos + 1)
    pos += 3
    if (!skip(n)) return false
    if (t === 0x42) return true
  }
}

/** A type: 't' u16 + bytes (a new type), 'T'/'u' int (a ref), or nothing. */
function type (): boolean {
  if (pos >= lim) return false
  const t = buf[pos]
  if (t === 0x74) {
    if (pos + 3 > lim) return false
    const n = buf.readUInt16BE(pos + 1)
    pos += 3
    if (!skip(n)) return false
    types++
    return true
  }
  if (t === 0x54 || t === 0x75) {
    pos++
    const r = int()
    return r >= 0 && r < types
  }
  return true
}

/**
 * 'O' definitions (any number) then the instance 'o' int(ref), as readObject recurses.
 * Returns the `methodArgSigs` length when `top` (0 for none, -1 for null), else 0; < -1
 * when the object cannot be decoded.
 */
function object (depth: number, top: boolean): number {
  if (depth >= MAX_DEPTH) return -2
  const m = memo.length
  if (classes === 0 && m > 0 && pos + m <= lim && memo.compare(buf, pos, pos + m) === 0) {
    classFields[0] = memoFields
    classArgSigs[0] = memoSigs
    classes = 1
    pos += m
  }
  while (pos < lim && buf[pos] === 0x4f) {
    const defStart = pos
    pos++
    if (classes >= MAX_CLASSES) return -2
    const n = int()
    if (n < 0) return -2
    const s = pos
    if (!chars(n) || !dottedIdentifier(s, pos)) return -2
    const nameEnd = pos
    const fields = int()
    if (fields < 0 || fields > lim - pos) return -2
    const fieldsStart = pos
    let sigs = -1
    for (let i = 0; i < fields; i++) {
      if (!string()) return -2
      if (strStart < 0) return -2 // a chunked field name: not an identifier the decoder compiles
      if (!identifier(strStart, strEnd)) return -2 // `this$N` (an inner class's outer ref) is one too
      if (bytesAre(METHOD_ARG_SIGS, strStart, strEnd)) sigs = i
    }
    if (bytesAre(SOFA_REQUEST, s, nameEnd) && (fields !== SOFA_REQUEST_FIELD_COUNT || !bytesAre(SOFA_REQUEST_FIELDS, fieldsStart, pos))) { redefined = true; return -2 }
    classFields[classes] = fields
    classArgSigs[classes] = sigs
    if (classes === 0 && pos - defStart <= MEMO_MAX) { memo = Buffer.from(buf.subarray(defStart, pos)); memoFields = fields; memoSigs = sigs }
    classes++
  }
  if (pos >= lim || buf[pos] !== 0x6f) return -2
  pos++
  const c = int()
  if (c < 0 || c >= classes) return -2
  refs++
  const fields = classFields[c]
  const sigsAt = top ? classArgSigs[c] : -1
  let sigs = 0
  for (let i = 0; i < fields; i++) {
    if (i === sigsAt) {
      lastList = -1
      const t = pos < lim ? buf[pos] : -1
      if (t === 0x4e) { pos++; sigs = -1; continue }
      if (t !== 0x56 && t !== 0x76) return -2 // the args loop would read `.length` of something else
      if (!list(depth + 1)) return -2
      sigs = lastList
    } else if (!value(depth + 1)) return -2
  }
  return sigs
}

/** 'V' type ('n' u8 | 'l' i32) items 'z', or 'v' int(type ref) int(length) items. */
function list (depth: number): boolean {
  if (depth >= MAX_DEPTH) return false
  let n: number
  let end = false
  if (buf[pos++] === 0x56) {
    if (!type()) return false
    if (pos >= lim) return false
    const t = buf[pos]
    if (t === 0x6e) { if (!skip(2)) return false; n = buf[pos - 1] } else if (t === 0x6c) {
      if (!skip(5)) return false
      n = buf.readInt32BE(pos - 4)
    } else return false
    end = true
  } else {
    const r = int()
    if (r < 0 || r >= types) return false
    n = int()
  }
  if (n < 0 || n > lim - pos) return false // every item takes a byte at least
  refs++
  for (let i = 0; i < n; i++) if (!value(depth + 1)) return false
  if (end) { if (pos >= lim || buf[pos] !== 0x7a) return false; pos++ }
  lastList = n
  return true
}

/** Key, value pairs until 'z'. */
function mapEntries (depth: number): boolean {
  if (depth >= MAX_DEPTH) return false
  for (;;) {
    if (pos >= lim) return false
    if (buf[pos] === 0x7a) { pos++; return true }
    if (!value(depth + 1) || !value(depth + 1)) return false
  }
}

/** [a-zA-Z_$][a-zA-Z0-9_$]*, as hessian.js's class cache compiles names into code. */
function identifier (s: number, e: number): boolean {
  if (s >= e) return false
  for (let p = s; p < e; p++) {
    const c = buf[p]
    const letter = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x24
    if (!letter && (p === s || c < 0x30 || c > 0x39)) return false
  }
  return true
}

function dottedIdentifier (s: number, e: number): boolean {
  let from = s
  for (let p = s; p <= e; p++) {
    if (p === e || buf[p] === 0x2e) {
      if (!identifier(from, p)) return false
      from = p + 1
    }
  }
  return true
}

function bytesAre (want: Buffer, s: number, e: number): boolean {
  const n = want.length
  if (e - s !== n) return false
  for (let i = n - 1; i >= 0; i--) if (buf[s + i] !== want[i]) return false
  return true
}
