/**
 * Trace ids in their wire forms: W3C `traceparent` (https://www.w3.org/TR/trace-context/),
 * and SOFATracer's trace id and rpc id, with the mapping between the two that lets a trace
 * cross the gateway whichever side speaks which. Everything here reads hostile input: a
 * malformed value is treated as absent, never thrown on.
 */
import { createHash } from 'node:crypto'
import { isValidSpanId, isValidTraceId, TraceFlags, type SpanContext } from '@opentelemetry/api'

/** Longest SOFA trace id or rpc id read from a request (SOFATracer's are 30 and a few dozen). */
export const MAX_SOFA_ID = 128

/**
 * `traceparent` as a remote SpanContext, or null. Version 00 must be exactly 55 characters;
 * a higher version may be longer (parsed by its first 55, as the spec asks); `ff` is invalid.
 */
export function parseTraceparent (tp: string | undefined): SpanContext | null {
  if (tp === undefined || tp.length < 55) return null
  if (tp.charCodeAt(2) !== 45 || tp.charCodeAt(35) !== 45 || tp.charCodeAt(52) !== 45) return null
  const version = tp.slice(0, 2)
  if (!isHex(version) || version === 'ff' || (version === '00' && tp.length !== 55)) return null
  if (tp.length > 55 && tp.charCodeAt(55) !== 45) return null
  const traceId = tp.slice(3, 35)
  const spanId = tp.slice(36, 52)
  const flags = tp.slice(53, 55)
  // Lower-case hex only (the spec's HEXDIGLC); the all-zero ids are invalid.
  if (!isHex(traceId) || !isHex(spanId) || !isValidTraceId(traceId) || !isValidSpanId(spanId) || !isHex(flags)) return null
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true }
}

export function formatTraceparent (sc: SpanContext): string {
  return '00-' + sc.traceId + '-' + sc.spanId + ((sc.traceFlags & TraceFlags.SAMPLED) !== 0 ? '-01' : '-00')
}

/**
 * A W3C trace id for a SOFA trace id: SOFATracer's ids (8 hex of IP, 13 digits of time,
 * 4 of sequence, up to 5 of pid) are hex already, so one of up to 32 hex characters is kept,
 * left-padded with zeros; the trace id reads the same in both worlds. Anything else is
 * hashed (SHA-256, first 32 hex), so the same SOFA trace always maps to the same W3C trace.
 */
export function w3cTraceIdOf (sofaTraceId: string): string {
  const lower = sofaTraceId.toLowerCase()
  if (lower.length <= 32 && isHex(lower)) {
    const id = lower.padStart(32, '0')
    if (isValidTraceId(id)) return id
  }
  return createHash('sha256').update(sofaTraceId).digest('hex').slice(0, 32)
}

/**
 * The span id standing for the SOFA caller's span (rpc id `rpcId` of trace `sofaTraceId`):
 * the caller is not an OTel span, but a server span needs a parent to carry the trace id.
 * Derived (SHA-256), so every hop that bridges the same SOFA span names the same parent.
 */
export function spanIdOfRpcId (sofaTraceId: string, rpcId: string): string {
  const id = createHash('sha256').update(sofaTraceId + '\n' + rpcId).digest('hex').slice(0, 16)
  return isValidSpanId(id) ? id : '0000000000000001'
}

/** A SOFA rpc id: `0`, `0.1`, `0.1.2`... (digits separated by single dots), bounded length. */
export function isRpcId (s: string): boolean {
  const n = s.length
  if (n === 0 || n > MAX_SOFA_ID) return false
  let digit = false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 48 && c <= 57) { digit = true; continue }
    if (c !== 46 || !digit) return false
    digit = false
  }
  return digit
}

/** A SOFA trace id the gateway accepts: 1-128 printable ASCII, no separators of the SOFA forms. */
export function isSofaTraceId (s: string): boolean {
  const n = s.length
  if (n === 0 || n > MAX_SOFA_ID) return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c <= 32 || c >= 127 || c === 38 /* & */ || c === 61 /* = */ || c === 37 /* % */ || c === 44 /* , */) return false
  }
  return true
}

function isHex (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false
  }
  return s.length > 0
}
