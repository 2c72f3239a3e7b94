/**
 * Disk bounds of the audit directory (in the trail thread). With the queue on, the spool is
 * the part of the trail the queue has not taken yet: Redis down means records simply stay
 * in their segment files and are enqueued, in order, from the export cursor once it is back
 * (a restart loses nothing: the cursor is on disk). Over `spool.maxBytes`:
 * - `drop`: the oldest closed segments the queue has not taken are deleted (the local trail and
 *   the export lose them; counted in isthmus_audit_export_dropped_records_total);
 * - `refuse`: calls are refused (ISTH_ERR_AUDIT_UNAVAILABLE) and still recorded; at twice the
 *   bound segments are dropped as with `drop`, so the disk bound holds either way.
 * `retain.maxBytes` deletes the oldest closed segments the queue has taken (or all, queue off).
 */
import { unlinkSync } from 'node:fs'
import type { SegmentInfo } from './segment-files.js'

export interface SpoolOptions {
  maxBytes: number
  onFull: 'drop' | 'refuse'
}

/** Where the export stands: the next byte to enqueue. */
export interface ExportPosition {
  readonly seg: number
  readonly offset: number
  /** Seq of the last record enqueued. */
  readonly seq: number
}

export interface SpoolState {
  spoolBytes: number
  refusing: boolean
}

export interface SpoolEvents {
  onDropped (segment: SegmentInfo, records: number): void
  onProblem (message: string, err?: unknown): void
}

/** Bytes of `segments` not yet enqueued from `pos` on. */
export function spoolBytes (segments: readonly SegmentInfo[], pos: ExportPosition): number {
  let n = 0
  for (const s of segments) {
    if (s.n > pos.seg) n += s.bytes
    else if (s.n === pos.seg) n += Math.max(0, s.bytes - pos.offset)
  }
  return n
}

/** Records of segment `i` the queue has not taken (its record count from the next header, else from the writer). */
function unexportedRecords (segments: readonly SegmentInfo[], i: number, pos: ExportPosition, lastSeq: number): number {
  const s = segments[i]
  if (s.next < 0) return 0
  const end = s.records >= 0 ? s.next + s.records - 1 : (segments[i + 1]?.next ?? lastSeq + 1) - 1
  const from = s.n === pos.seg ? Math.max(s.next, pos.seq + 1) : s.next
  return Math.max(0, end - from + 1)
}

/**
 * Apply the bounds once (every second and after a rotation). `current` is the segment being
 * written (never deleted); `pos` is null when the queue is off.
 */
export function applyBounds (segments: SegmentInfo[], current: SegmentInfo | null, pos: ExportPosition | null, lastSeq: number,
  spool: SpoolOptions, retainBytes: number, events: SpoolEvents): SpoolState {
  let spooled = pos === null ? 0 : spoolBytes(segments, pos)
  const dropAt = spool.onFull === 'drop' ? spool.maxBytes : 2 * spool.maxBytes
  while (pos !== null && spooled > dropAt) {
    const i = segments.findIndex(s => s !== current && s.n >= pos.seg)
    if (i < 0) break
    const s = segments[i]
    const records = unexportedRecords(segments, i, pos, lastSeq)
    if (!remove(s, events)) break
    spooled -= s.n === pos.seg ? Math.max(0, s.bytes - pos.offset) : s.bytes
    segments.splice(i, 1)
    events.onDropped(s, records)
  }
  if (retainBytes > 0) {
    let total = 0
    for (const s of segments) total += s.bytes
    while (total > retainBytes) {
      const i = segments.findIndex(s => s !== current && (pos === null || s.n < pos.seg))
      if (i < 0) break
      const s = segments[i]
      if (!remove(s, events)) break
      total -= s.bytes
      segments.splice(i, 1)
    }
  }
  return { spoolBytes: spooled, refusing: spool.onFull === 'refuse' && spooled > spool.maxBytes }
}

function remove (s: SegmentInfo, events: SpoolEvents): boolean {
  try {
    unlinkSync(s.path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true
    events.onProblem(`cannot delete audit segment ${s.path}`, err)
    return false
  }
}
