/**
 * The audit metrics, read at scrape time from plain fields: each open trail's shared stats
 * (written by its thread), the gateway thread's own counters, and the totals of trails closed
 * since start (so counters never go back). No label comes from callers.
 */
import { Counter, Gauge } from 'prom-client'
import { metricsRegistry } from '../../gateway/index.js'
import { Flag, Stat } from './shared-state.js'
import { Trail } from './trail.js'

/** Counted on the gateway's thread (plain fields). */
export const auditCounters = { refused: 0, refusedEvents: 0 }

type Read = (t: Trail) => number

const registered = new Set<string>()

function counter (name: string, help: string, read: Read, extra: () => number = () => 0): void {
  if (registered.has(name)) return
  registered.add(name)
  let reported = 0
  let retired = 0
  const live = new Map<Trail, number>()
  new Counter({
    name, help, registers: [metricsRegistry],
    collect () {
      let total = retired + extra()
      const seen = new Set<Trail>()
      for (const t of Trail.all()) { const v = read(t); live.set(t, v); seen.add(t); total += v }
      for (const [t, v] of live) if (!seen.has(t)) { retired += Math.max(v, read(t)); total += Math.max(v, read(t)); live.delete(t) }
      if (total > reported) { this.inc(total - reported); reported = total }
    },
  })
}

function gauge (name: string, help: string, read: Read): void {
  if (registered.has(name)) return
  registered.add(name)
  new Gauge({
    name, help, registers: [metricsRegistry],
    collect () {
      let v = 0
      for (const t of Trail.all()) v += read(t)
      this.set(v)
    },
  })
}

/** Register the audit metrics once per process (idempotent). */
export function registerAuditMetrics (): void {
  const s = (i: number): Read => t => t.shared.stats[i]
  counter('isthmus_audit_records_total', 'Audit records the trail thread took (written, or lost to a failing disk and declared)', s(Stat.RecordsIn))
  counter('isthmus_audit_dropped_records_total', 'Audit records dropped on the gateway thread: the buffer bound (declared in the trail as a gap) or a trail that could not be opened', t => t.dropped + t.unrecorded)
  counter('isthmus_audit_dropped_events_total', 'Event lines (mirror mismatches) not written: the buffer bound, a trail that could not be opened, or an event that is not one canonical line (bad kind, not JSON, over 16 KiB)', t => t.droppedEvents, () => auditCounters.refusedEvents)
  counter('isthmus_audit_lost_records_total', 'Records declared lost in the trail (gap entries)', s(Stat.Lost))
  counter('isthmus_audit_write_errors_total', 'Failed writes to audit segment files (retried)', s(Stat.WriteErrors))
  counter('isthmus_audit_checkpoints_total', 'Signed checkpoints written', s(Stat.Checkpoints))
  counter('isthmus_audit_enqueued_records_total', 'Audit records added to the BullMQ queue', s(Stat.Enqueued))
  counter('isthmus_audit_export_dropped_records_total', 'Audit records deleted from a full spool before the queue took them (spool policy drop)', s(Stat.ExportDropped))
  counter('isthmus_audit_refused_total', 'Calls refused because the audit trail could not take records (spool policy refuse)', () => 0, () => auditCounters.refused)
  gauge('isthmus_audit_buffered_bytes', 'Audit bytes in memory: batched, on their way to the trail thread, or waiting for a failed write to succeed', t => t.pendingBytes + t.shared.stats[Stat.Unwritten])
  gauge('isthmus_audit_spool_bytes', 'Trail bytes the export queue has not taken yet', s(Stat.SpoolBytes))
  gauge('isthmus_audit_spool_full', '1 while the spool is over its bound or the trail is not writable (policy refuse refuses calls)', t => t.refusing ? 1 : 0)
  gauge('isthmus_audit_queue_depth', 'Jobs waiting or active in the audit queue (-1 unknown)', t => t.shared.stats[Stat.QueueDepth])
  gauge('isthmus_audit_redis_up', '1 while Redis takes audit jobs', s(Stat.RedisUp))
  gauge('isthmus_audit_segments', 'Audit segment files in the directory', s(Stat.Segments))
  gauge('isthmus_audit_up', '1 while the trail thread writes', t => Atomics.load(t.shared.flags, Flag.State) === 1 ? 1 : 0)
}
