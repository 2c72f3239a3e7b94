/**
 * The recent audit records as the admin reads them: the `audit/recent` filter view (published
 * by the audit filter, filters/audit/recent.ts; the core knows only the view's name and shape)
 * for the console's panel and `GET /v1/audit/recent`. A view is process-wide and any module
 * may publish one, so its data is checked for shape and capped before it goes out.
 */
import { readView } from '../../gateway/chain/filter-views.js'

export interface AuditRecordState {
  time: string
  proto: string
  caller: { principal: string, entity: string | null, app: string | null, auth: string } | null
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
  headers: Record<string, string>
}

export interface AuditRecentState {
  /** Records the gateway audited since it started (in this process). */
  total: number
  capacity: number
  /** Newest first. */
  records: AuditRecordState[]
}

/** Records one state carries at most, whatever the view holds. */
const MAX_RECORDS = 100

export const NO_AUDIT: Readonly<AuditRecentState> = Object.freeze({ total: 0, capacity: 0, records: [] })

/** The recent records, or null when no audit filter runs in this process. */
export function auditRecent (): AuditRecentState | null {
  const v = readView('audit/recent') as Partial<AuditRecentState> | null | undefined
  if (v === null || v === undefined || typeof v !== 'object' || !Array.isArray(v.records)) return null
  return {
    total: typeof v.total === 'number' ? v.total : 0,
    capacity: typeof v.capacity === 'number' ? v.capacity : 0,
    records: v.records.slice(0, MAX_RECORDS),
  }
}
