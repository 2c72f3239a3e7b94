import type { BoltFrame } from './command.js'
import { BoltCodec } from './types.js'

/**
 * The method name of a SOFA Bolt request, read from the start of its hessian2 content, for
 * callers (sofa-rpc-node) that do not send `sofa_head_method_name`. Only the SofaRequest
 * object's leading fields are looked at, and at most METHOD_SCAN_BYTES of content: the
 * arguments that follow the object are never touched. Anything unexpected (another codec,
 * another class, a field before `methodName` that is not a plain scalar, a name running past
 * the window) returns '' ("cannot be read"); rules that match methods then fail closed.
 *
 * Both hessian2 dialects SOFA peers send are read:
 * - final Hessian 2.0 (Java sofa-hessian, hessian.js 2.x): `'C' string(type) int(n) string*n`
 *   then the instance `'O' int(ref)` or `0x60+ref`;
 * - the Hessian 2 draft that sofa-rpc-node writes by default (sofa-hessian-node "3.0"):
 *   `'O' int(len) <type bytes> int(n) string*n` then `'o' int(ref)`.
 * sofa-rpc-node puts `methodName` first; Java puts `targetAppName` (a string) before it.
 */

/** Content bytes scanned at most (class definition + leading fields + the name). */
export const METHOD_SCAN_BYTES = 4096

const SOFA_REQUEST = Buffer.from('com.alipay.sofa.rpc.core.request.SofaRequest', 'latin1')
const METHOD_NAME = Buffer.from('methodName', 'latin1')

const EMPTY = Buffer.alloc(0)
// Cursor of the read in progress: module state, so no object per call (the reader never
// re-enters itself).
let pos = 0
let lim = 0
let buf: Buffer = EMPTY

/** `call.method` for a request without the header: its SofaRequest methodName, or ''. */
export function readSofaMethod (frame: BoltFrame): string {
  if (frame.codec !== BoltCodec.HESSIAN2) return ''
  const start = frame.contentStart
  const end = Math.min(frame.contentEnd, start + METHOD_SCAN_BYTES)
  return readMethodName(frame.buf, start, end)
}

/** The methodName of the SofaRequest hessian2 object at `start` (bytes up to `end`), or ''. */
export function readMethodName (b: Buffer, start: number, end: number): string {
  buf = b
  pos = start
  lim = end
  const name = read()
  buf = EMPTY // keep no reference to the frame
  return name
}

function read (): string {
  if (pos >= lim) return ''
  const tag = buf[pos++]
  let draft: boolean
  if (tag === 0x43) { // 'C': final class definition, the type is a string
    draft = false
    if (!typeIsSofaRequest(stringSpan())) return ''
  } else if (tag === 0x4f) { // 'O' first: the draft's class definition, type = int length + bytes
    draft = true
    const n = readInt()
    if (n < 0) return '' // BAD is negative too
    if (!typeIsSofaRequest(charsSpan(n))) return ''
  } else return ''
  const fields = readInt()
  if (fields <= 0 || fields > 64) return ''
  let at = -1
  for (let i = 0; i < fields; i++) {
    const e = stringSpan()
    if (e < 0) return ''
    if (at < 0 && !chunked && bytesAre(METHOD_NAME, spanStart, e)) at = i
  }
  if (at < 0) return ''
  // The instance of definition 0 (the first and only one in this content).
  if (pos >= lim) return ''
  const o = buf[pos++]
  if (draft) {
    if (o !== 0x6f || readInt() !== 0) return '' // 'o' int(ref)
  } else if (o === 0x4f) {
    if (readInt() !== 0) return '' // 'O' int(ref)
  } else if (o !== 0x60) return '' // compact ref 0
  for (let i = 0; i < at; i++) if (!skipScalar()) return ''
  if (pos >= lim) return ''
  if (buf[pos] === 0x4e) return '' // 'N': no method name
  const e = stringSpan()
  if (e < 0) return ''
  if (chunked) return chunkedString()
  return e === spanStart ? '' : buf.toString('utf8', spanStart, e)
}

function typeIsSofaRequest (e: number): boolean {
  return e >= 0 && !chunked && bytesAre(SOFA_REQUEST, spanStart, e)
}

/** buf[s, e) equals `want` (a JS loop: cheaper than a native compare for short names). */
function bytesAre (want: Buffer, s: number, e: number): boolean {
  const n = want.length
  if (e - s !== n) return false
  for (let i = n - 1; i >= 0; i--) if (buf[s + i] !== want[i]) return false
  return true
}

/** Not an int (or past the window); outside the i32 range, so no value collides with it. */
const BAD = -0x80000001

/** A hessian2 int (compact 1-3 bytes or 'I' + 4), or BAD. */
function readInt (): number {
  if (pos >= lim) return BAD
  const b = buf[pos]
  if (b >= 0x80 && b <= 0xbf) { pos++; return b - 0x90 }
  if (b >= 0xc0 && b <= 0xcf) {
    if (pos + 2 > lim) return BAD
    const v = ((b - 0xc8) << 8) + buf[pos + 1]
    pos += 2
    return v
  }
  if (b >= 0xd0 && b <= 0xd7) {
    if (pos + 3 > lim) return BAD
    const v = ((b - 0xd4) << 16) + (buf[pos + 1] << 8) + buf[pos + 2]
    pos += 3
    return v
  }
  if (b === 0x49) {
    if (pos + 5 > lim) return BAD
    const v = buf.readInt32BE(pos + 1)
    pos += 5
    return v
  }
  return BAD
}

// Where the last stringSpan's bytes start, and whether it came in several chunks.
let spanStart = 0
let chunked = false
let chunkFrom = 0

/**
 * Walk one hessian2 string (compact 0x00-0x1f, 0x30-0x33 + byte, 'S' u16 final chunk, and
 * 'R'/'s' u16 non-final chunks before a final one). Returns the byte end of the (last)
 * chunk, or -1. `spanStart` is where its bytes start; for a chunked string `chunked` is set
 * and `chunkFrom` is where the first chunk's tag was.
 */
function stringSpan (): number {
  chunked = false
  chunkFrom = pos
  for (;;) {
    if (pos >= lim) return -1
    const b = buf[pos]
    let n: number
    let last = true
    if (b <= 0x1f) { n = b; pos += 1 } else if (b >= 0x30 && b <= 0x33) {
      if (pos + 2 > lim) return -1
      n = ((b - 0x30) << 8) + buf[pos + 1]; pos += 2
    } else if (b === 0x53 || b === 0x52 || b === 0x73) { // 'S' final, 'R' (final dialect) / 's' (draft) non-final
      if (pos + 3 > lim) return -1
      n = buf.readUInt16BE(pos + 1); pos += 3
      last = b === 0x53
    } else return -1
    const e = charsSpan(n)
    if (e < 0) return -1
    if (last) return e
    chunked = true
  }
}

/** Skip `n` characters of UTF-8 (hessian counts UTF-16 units); byte end or -1. Sets spanStart. */
function charsSpan (n: number): number {
  spanStart = pos
  let p = pos
  for (let i = 0; i < n; i++) {
    if (p >= lim) return -1
    const c = buf[p]
    if (c < 0x80) p += 1
    else if (c < 0xe0) p += 2
    else if (c < 0xf0) p += 3
    else { p += 4; i++ } // a 4-byte sequence is a surrogate pair: two units
  }
  if (p > lim) return -1
  pos = p
  return p
}

/** A chunked method name (rare): walk the chunks again and join them. */
function chunkedString (): string {
  const end = pos
  pos = chunkFrom
  let out = ''
  while (pos < end) {
    const b = buf[pos]
    let n: number
    if (b <= 0x1f) { n = b; pos += 1 } else if (b >= 0x30 && b <= 0x33) { n = ((b - 0x30) << 8) + buf[pos + 1]; pos += 2 } else { n = buf.readUInt16BE(pos + 1); pos += 3 }
    const e = charsSpan(n)
    out += buf.toString('utf8', spanStart, e)
  }
  return out
}

/** Skip one scalar field value (null, boolean, int, long, double, string); false otherwise. */
function skipScalar (): boolean {
  if (pos >= lim) return false
  const b = buf[pos]
  if (b === 0x4e || b === 0x54 || b === 0x46) { pos++; return true } // N T F
  if ((b >= 0x80 && b <= 0xd7) || b === 0x49) return readInt() !== BAD
  if (b === 0x4c) return advance(9) // 'L' long
  if (b >= 0xd8 && b <= 0xef) return advance(1) // compact long (1 byte)
  if (b >= 0xf0) return advance(2) // compact long (2 bytes)
  if (b >= 0x38 && b <= 0x3f) return advance(3) // compact long (3 bytes)
  if (b === 0x59) return advance(5) // long as int
  if (b === 0x44) return advance(9) // 'D' double
  if (b >= 0x5b && b <= 0x5f) return advance(b === 0x5b || b === 0x5c ? 1 : b === 0x5d ? 2 : b === 0x5e ? 3 : 5)
  return stringSpan() >= 0
}

function advance (n: number): boolean {
  if (pos + n > lim) return false
  pos += n
  return true
}
