/**
 * The `call` object of an audit record, built from a finished Call as canonical JSON (keys in
 * sorted order, see canonical.ts) by plain string building: one string per call, no
 * intermediate object, no closure. Never a body byte: only Call fields, and header values
 * from the allow-list (redacted names show as "[redacted]").
 *
 * Members (README "Audit trail"): addr, caller {app, auth, entity, principal} | null, cluster,
 * code, decisions [{action, filter, reason}], group, headers {name: value}, host, in (request
 * bytes), method, mirror (null until the mirror filter compares responses), mirrored, ms,
 * out (response bytes), peer (the connection's mTLS identity), proto, route, shard (-1 when
 * the LDC filter did not run), status, stress, svc, trace {id, parent, sofaRpcId,
 * sofaTraceId, span (the gateway's server span; null when the `trace` filter did not
 * trace the call)}, version, zone.
 */
import type { Call, Decision, PeerIdentity } from '../../gateway/index.js'

/** Longest string kept from a caller-controlled field (service, method, principal, reason...). */
export const MAX_FIELD = 512
/** Decisions kept per call. */
const MAX_DECISIONS = 16
const REDACTED = '"[redacted]"'

/** Which request headers a record shows, compiled once per config. */
export interface HeaderRules {
  /** Exact names, sorted, as the protocol spells them (Triple: lower-case). */
  readonly triple: readonly string[]
  readonly bolt: readonly string[]
  /** Name prefixes (`x-tenant-*`); when any, every header is looked at (costs an entries() call). */
  readonly prefixes: readonly string[]
  /** Lower-case names whose values are never written. */
  readonly redact: ReadonlySet<string>
  readonly maxValueLength: number
}

export function compileHeaderRules (allow: readonly string[], redact: readonly string[], maxValueLength: number): HeaderRules {
  const exact = allow.filter(n => !n.endsWith('*'))
  const prefixes = allow.filter(n => n.endsWith('*')).map(n => n.slice(0, -1).toLowerCase())
  return Object.freeze({
    triple: Object.freeze([...new Set(exact.map(n => n.toLowerCase()))].sort()),
    bolt: Object.freeze([...new Set(exact)].sort()),
    prefixes: Object.freeze(prefixes),
    redact: new Set(redact.map(n => n.toLowerCase())),
    maxValueLength,
  })
}

/** JSON string of a caller-controlled value, cut to `max` characters. */
export function jsonString (s: string, max = MAX_FIELD): string {
  if (s.length === 0) return '""'
  return JSON.stringify(s.length > max ? s.slice(0, max) + '…' : s)
}

// Names from the config (route, cluster, host) repeat on every call: their JSON is kept.
const names = new Map<string, string>()
function nameJson (s: string): string {
  let j = names.get(s)
  if (j === undefined) {
    if (names.size >= 4096) names.clear()
    j = jsonString(s)
    names.set(s, j)
  }
  return j
}

function nullableString (s: string | undefined): string {
  return s === undefined ? 'null' : jsonString(s)
}

function identityJson (id: PeerIdentity): string {
  return '{"app":' + nullableString(id.app) + ',"auth":"' + id.source + '","entity":' + nullableString(id.entity) +
    ',"principal":' + jsonString(id.principal) + '}'
}

function decisionsJson (list: readonly Decision[] | null): string {
  if (list === null) return '[]'
  let s = '['
  const n = Math.min(list.length, MAX_DECISIONS)
  for (let i = 0; i < n; i++) {
    const d = list[i]
    s += (i === 0 ? '{"action":' : ',{"action":') + jsonString(String(d.action)) + ',"filter":' + jsonString(String(d.filter)) +
      ',"reason":' + jsonString(String(d.reason)) + '}'
  }
  return s + ']'
}

function headersJson (c: Call, r: HeaderRules): string {
  if (r.prefixes.length > 0) return headersByScan(c, r)
  const names = c.protocol === 'triple' ? r.triple : r.bolt
  if (names.length === 0) return '{}'
  let s = '{'
  for (let i = 0; i < names.length; i++) {
    const v = c.headers.get(names[i])
    if (v === undefined) continue
    s += (s.length === 1 ? '' : ',') + JSON.stringify(names[i]) + ':' + (r.redact.has(names[i].toLowerCase()) ? REDACTED : jsonString(v, r.maxValueLength))
  }
  return s + '}'
}

/** With prefix rules: every header is looked at (entries() allocates; only when configured). */
function headersByScan (c: Call, r: HeaderRules): string {
  const exact = c.protocol === 'triple' ? r.triple : r.bolt
  const picked = new Map<string, string>()
  for (const [name, value] of c.headers.entries()) {
    const lower = name.toLowerCase()
    const want = exact.includes(c.protocol === 'triple' ? lower : name) || r.prefixes.some(p => lower.startsWith(p))
    if (want && !picked.has(name)) picked.set(name, value)
  }
  let s = '{'
  for (const name of [...picked.keys()].sort()) {
    s += (s.length === 1 ? '' : ',') + JSON.stringify(name) + ':' + (r.redact.has(name.toLowerCase()) ? REDACTED : jsonString(picked.get(name)!, r.maxValueLength))
  }
  return s + '}'
}

const BOLT_TRACE_ID = 'rpc_trace_context.sofaTraceId'
const BOLT_RPC_ID = 'rpc_trace_context.sofaRpcId'

/** W3C trace id and parent span from `traceparent`, SOFA trace and rpc ids (PROTOCOLS.md);
 *  from the gateway's own spans when the `trace` filter traced the call. */
export function traceJson (c: Call): string {
  const t = c.trace
  if (t !== null) {
    // The `trace` filter's spans: the ids the exporter shows (the request headers now carry
    // the upstream attempt's ids instead).
    return '{"id":' + jsonString(t.traceId) + ',"parent":' + jsonString(t.parentSpanId) + ',"sofaRpcId":' + jsonString(t.sofaRpcId) +
      ',"sofaTraceId":' + jsonString(t.sofaTraceId) + ',"span":' + jsonString(t.spanId) + '}'
  }
  let id = ''
  let parent = ''
  let sofaTrace: string | undefined
  let sofaRpc: string | undefined
  const h = c.headers
  if (c.protocol === 'triple') {
    const tp = h.get('traceparent')
    // version-traceid-parentid-flags: 2-32-16-2 characters
    if (tp !== undefined && tp.length === 55 && tp.charCodeAt(2) === 45 && tp.charCodeAt(35) === 45 && tp.charCodeAt(52) === 45) {
      id = tp.slice(3, 35)
      parent = tp.slice(36, 52)
    }
    sofaTrace = h.get('sofa-traceid') ?? h.get('tri-trace-traceid')
    sofaRpc = h.get('sofa-rpcid') ?? h.get('tri-trace-rpcid')
  } else {
    sofaTrace = h.get(BOLT_TRACE_ID)
    sofaRpc = h.get(BOLT_RPC_ID)
  }
  return '{"id":' + jsonString(id) + ',"parent":' + jsonString(parent) + ',"sofaRpcId":' + jsonString(sofaRpc ?? '') +
    ',"sofaTraceId":' + jsonString(sofaTrace ?? '') + ',"span":null}'
}

/** The call object of the record (canonical JSON). Reads the Call only; never throws on odd values. */
export function callJson (c: Call, rules: HeaderRules): string {
  const caller = c.caller
  const ms = Math.round(c.durationMs * 1000) / 1000
  return '{"addr":' + nameJson(c.remoteAddress) +
    ',"caller":' + (caller === null ? 'null' : identityJson(caller)) +
    ',"cluster":' + (c.cluster === null ? 'null' : nameJson(c.cluster.name)) +
    ',"code":' + (c.code === null ? 'null' : '"' + c.code + '"') +
    ',"decisions":' + decisionsJson(c.decisions) +
    ',"group":' + jsonString(c.group) +
    ',"headers":' + headersJson(c, rules) +
    ',"host":' + (c.host === null ? 'null' : nameJson(c.host.id)) +
    ',"in":' + finite(c.bytesIn) +
    ',"method":' + jsonString(c.method) +
    ',"mirror":null' +
    ',"mirrored":' + (c.mirrored ? 'true' : 'false') +
    ',"ms":' + finite(ms) +
    ',"out":' + finite(c.bytesOut) +
    ',"peer":' + (c.peer === null ? 'null' : jsonString(c.peer.principal)) +
    ',"proto":"' + c.protocol + '"' +
    ',"route":' + (c.route === null ? 'null' : nameJson(c.route.name)) +
    ',"shard":' + finite(c.shard) +
    ',"status":' + finite(c.status) +
    ',"stress":' + (c.stress ? 'true' : 'false') +
    ',"svc":' + jsonString(c.service) +
    ',"trace":' + traceJson(c) +
    ',"version":' + jsonString(c.version) +
    ',"zone":' + jsonString(c.zone) + '}'
}

/** A number as JSON writes it; NaN and infinities (never expected) become 0 so the line stays JSON. */
function finite (n: number): string {
  return Number.isFinite(n) ? String(n) : '0'
}
