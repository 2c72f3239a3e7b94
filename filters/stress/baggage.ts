/**
 * SOFATracer baggage (`k1=v1&k2=v2&`, with `%`, `=` and `&` escaped as %25, %3D and %26),
 * scanned in place: no split, no substring, one pass over at most `maxBytes` characters.
 * Used for `rpc_trace_context.sofaPenAttrs`, `new_rpc_trace_context` (the whole trace context
 * in the same form, biz baggage as plain pairs) and `tri-trace-biz-baggage`.
 */

export const MARKED = 1
export const NOT_MARKED = 0
export const OVERSIZE = -1
export const TOO_MANY_PAIRS = -2
export const MALFORMED_PAIR = -3
export const BAD_ESCAPE = -4
export type ScanResult = typeof MARKED | typeof NOT_MARKED | typeof OVERSIZE | typeof TOO_MANY_PAIRS | typeof MALFORMED_PAIR | typeof BAD_ESCAPE

const AMP = 0x26
const EQ = 0x3d
const PCT = 0x25

/** Escape a key or value as SOFATracer does (% first). */
export function escapeBaggage (s: string): string {
  return s.replace(/%/g, '%25').replace(/&/g, '%26').replace(/=/g, '%3D')
}

/**
 * Does `s` carry the pair `key=value` (both given escaped)? A segment (between `&`) must be
 * `k=v` with a non-empty key and one raw `=`; a `%` must start %25, %26 or %3D (a SOFA encoder
 * escapes every other `%`). Empty segments (the trailing `&`) are fine.
 */
export function scanBaggage (s: string, key: string, value: string, maxBytes: number, maxPairs: number): ScanResult {
  const n = s.length
  if (n > maxBytes) return OVERSIZE
  let marked = false
  let pairs = 0
  let i = 0
  while (i < n) {
    let eq = -1
    let p = i
    for (; p < n; p++) {
      const c = s.charCodeAt(p)
      if (c === AMP) break
      if (c === EQ) {
        if (eq >= 0) return MALFORMED_PAIR
        eq = p
      } else if (c === PCT) {
        if (p + 2 >= n) return BAD_ESCAPE
        const a = s.charCodeAt(p + 1)
        const b = s.charCodeAt(p + 2) | 0x20 // lower-case a hex letter
        if (!((a === 0x32 && (b === 0x35 || b === 0x36)) || (a === 0x33 && b === 0x64))) return BAD_ESCAPE
        p += 2
      }
    }
    if (p > i) {
      if (++pairs > maxPairs) return TOO_MANY_PAIRS
      if (eq <= i) return MALFORMED_PAIR // no `=`, or an empty key
      if (!marked && eq - i === key.length && p - eq - 1 === value.length && s.startsWith(key, i) && s.startsWith(value, eq + 1)) marked = true
    }
    i = p + 1
  }
  return marked ? MARKED : NOT_MARKED
}

/**
 * The value (still escaped) of `key` in `s`, or undefined when `s` has no such pair, is over
 * `maxBytes`, or is not well-formed baggage (the same checks as scanBaggage). `key` must need
 * no escaping (the trace filter reads `tcid`, `spid`, `sample` of `new_rpc_trace_context`).
 */
export function baggageValue (s: string, key: string, maxBytes: number, maxPairs: number): string | undefined {
  if (scanBaggage(s, key, '', maxBytes, maxPairs) < 0) return undefined
  let i = 0
  const n = s.length
  while (i < n) {
    let end = s.indexOf('&', i)
    if (end === -1) end = n
    if (end - i > key.length && s.charCodeAt(i + key.length) === EQ && s.startsWith(key, i)) return s.slice(i + key.length + 1, end)
    i = end + 1
  }
  return undefined
}

/**
 * `s` with the given pairs first (values escaped here) and every other pair of `s` after
 * them, in order; pairs of `s` with one of the given keys are dropped. Output ends with `&`,
 * as SOFATracer writes it.
 */
export function withBaggagePairs (s: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = ''
  for (const [k, v] of pairs) out += k + '=' + escapeBaggage(v) + '&'
  let i = 0
  const n = s.length
  while (i < n) {
    let end = s.indexOf('&', i)
    if (end === -1) end = n
    if (end > i) {
      const eq = s.indexOf('=', i)
      const k = eq === -1 || eq > end ? s.slice(i, end) : s.slice(i, eq)
      if (!pairs.some(p => p[0] === k)) out += s.slice(i, end) + '&'
    }
    i = end + 1
  }
  return out
}
