/**
 * The last records the audit filter built, for the console's "Recent audit records" panel and
 * `GET /v1/audit/recent`. The call path only stores a reference to the record string it built
 * anyway (two array slots, no allocation); the strings are parsed and cut down to metadata
 * when an admin reader asks (at most once a second per console tick). Records carry no body
 * bytes, and redacted headers are already "[redacted]" in the string. Process-wide (kept across
 * config revisions), newest first, published as the filter view `audit/recent`; `null` while
 * no audit filter is open, so the console shows the panel only where audit runs.
 *
 * The trail's record id (`<trail>.<seq>`) is assigned on the trail thread and is not known
 * here: a record is found in the trail by its trace id and time.
 */
import { publishView } from '../../gateway/index.js'

/** Records kept (a console panel's worth). */
export const RECENT_CAPACITY = 50

const calls: string[] = new Array<string>(RECENT_CAPACITY).fill('')
const starts = new Float64Array(RECENT_CAPACITY)
let next = 0
let total = 0
/** Open audit filter instances: the view is published only while one is. */
let open = 0

/** The call path: remember one record (its start, epoch ms, and its `call` JSON). */
export function rememberRecord (startMs: number, callJson: string): void {
  calls[next] = callJson
  starts[next] = startMs
  next = next === RECENT_CAPACITY - 1 ? 0 : next + 1
  total++
}

export function filterOpened (): void { open++ }
export function filterClosed (): void { if (open > 0) open-- }

export interface RecentCaller { principal: string, entity: string | null, app: string | null, auth: string }

/** One record as the console shows it: the trail's metadata, no body, no header values. */
export interface RecentRecord {
  time: string
  proto: string
  caller: RecentCaller | null
  /** The connection's mTLS identity. */
  peer: string | null
  addr: string
  service: string
  method: string
  route: string | null
  cluster: string | null
  host: string | null
  status: number
  code: string | null
  ms: number
  traceId: string
  sofaTraceId: string
  decisions: Array<{ filter: string, action: string }>
  /** The allow-listed headers as the trail has them (redacted names show "[redacted]"). */
  headers: Record<string, string>
}

export interface RecentView { total: number, capacity: number, records: RecentRecord[] }

type Obj = Record<string, unknown>
const str = (v: unknown): string => typeof v === 'string' ? v : ''
const strOrNull = (v: unknown): string | null => typeof v === 'string' ? v : null
const num = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0
const obj = (v: unknown): Obj | null => typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Obj : null

function project (startMs: number, json: string): RecentRecord | null {
  let c: Obj | null
  try { c = obj(JSON.parse(json)) } catch { return null }
  if (c === null) return null
  const caller = obj(c.caller)
  const trace = obj(c.trace) ?? {}
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(obj(c.headers) ?? {})) headers[k] = str(v)
  return {
    time: new Date(startMs).toISOString(),
    proto: str(c.proto),
    caller: caller === null ? null : { principal: str(caller.principal), entity: strOrNull(caller.entity), app: strOrNull(caller.app), auth: str(caller.auth) },
    peer: strOrNull(c.peer),
    addr: str(c.addr),
    service: str(c.svc),
    method: str(c.method),
    route: strOrNull(c.route),
    cluster: strOrNull(c.cluster),
    host: strOrNull(c.host),
    status: num(c.status),
    code: strOrNull(c.code),
    ms: num(c.ms),
    traceId: str(trace.id),
    sofaTraceId: str(trace.sofaTraceId),
    decisions: (Array.isArray(c.decisions) ? c.decisions : []).map(d => obj(d) ?? {}).map(d => ({ filter: str(d.filter), action: str(d.action) })),
    headers,
  }
}

/** The kept records, newest first (null while no audit filter is open). */
export function recentView (): RecentView | null {
  if (open === 0) return null
  const records: RecentRecord[] = []
  const kept = Math.min(total, RECENT_CAPACITY)
  for (let k = 1; k <= kept; k++) {
    const i = (next - k + RECENT_CAPACITY) % RECENT_CAPACITY
    const r = project(starts[i], calls[i])
    if (r !== null) records.push(r)
  }
  return { total, capacity: RECENT_CAPACITY, records }
}

publishView('audit/recent', recentView)
