/**
 * Reading the routing uid: its shard (a digit window of the uid), and `tri-unit-info`, the
 * JSON a Triple caller may send (`{"userid": "...", "zone": "..."}`). Both bounded: a uid over
 * the configured length or a tri-unit-info over 1 KiB is never parsed.
 */

/** The shard of `uid`: `digits` decimal digits ending `offset` characters before its end; -1 when the uid is malformed. */
export function shardOf (uid: string, digits: number, offset: number, maxLength: number): number {
  const n = uid.length
  if (n > maxLength) return -1
  const end = n - offset
  const start = end - digits
  if (start < 0) return -1
  let shard = 0
  for (let i = 0; i < n; i++) {
    const ch = uid.charCodeAt(i)
    if (ch < 0x21 || ch > 0x7e) return -1 // printable ASCII only: it goes into headers and the audit
    if (i >= start && i < end) {
      if (ch < 0x30 || ch > 0x39) return -1
      shard = shard * 10 + (ch - 0x30)
    }
  }
  return shard
}

export interface UnitInfo { readonly userid: string | undefined, readonly zone: string | undefined }

/** Longest tri-unit-info parsed. */
export const MAX_UNIT_INFO = 1024

/** tri-unit-info as JSON; null when absent, too long, not a JSON object, or with non-string fields. */
export function readUnitInfo (raw: string | undefined): UnitInfo | null {
  if (raw === undefined || raw.length === 0 || raw.length > MAX_UNIT_INFO || raw.charCodeAt(0) !== 0x7b /* { */) return null
  let v: unknown
  try { v = JSON.parse(raw) } catch { return null }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null
  const o = v as Record<string, unknown>
  const uid = o.userid ?? o.userId ?? o.uid
  const zone = o.zone
  return {
    userid: typeof uid === 'string' && uid !== '' ? uid : typeof uid === 'number' && Number.isSafeInteger(uid) && uid >= 0 ? String(uid) : undefined,
    zone: typeof zone === 'string' && zone !== '' ? zone : undefined,
  }
}
