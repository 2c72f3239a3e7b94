/**
 * The admin state's on-disk format (admin/state-file.ts): the compacted state file, the
 * journal records, and the deltas a journal line may carry instead of a whole value.
 */
import { spliceOf } from '../gateway/util/arrays.js'

/** Largest state file (and journal file) read at start; checked before reading. The admin
 *  holds far less (a 10,000-instance app is ~1 MB); a bigger file is refused, not parsed. */
export const MAX_STATE_BYTES = 256 * 1024 * 1024

/** One stored resource. `value: null` is a deletion (kept so older writes stay refused). */
export interface ResourceEntry {
  readonly revision: number
  readonly value: unknown
  /** Node id of the replica that accepted it. */
  readonly origin: string
  /** Epoch ms of acceptance. */
  readonly at: number
}

export interface StateFileContent {
  format: 'isthmus-admin-state'
  version: 1
  nodeId: string
  savedAt: string
  /** Last journal record included (absent in files written before the journal: 0). */
  journalSeq?: number
  resources: Record<string, ResourceEntry>
}

export type CorruptStatePolicy = 'fail' | 'discard'

export interface ReadStateResult {
  resources: Map<string, ResourceEntry>
  /** Where a corrupt file was moved (policy `discard`), for the log. */
  movedAside?: string
  problem?: string
  /** Highest journal sequence number read (0: none). */
  seq: number
  /** Journal records applied over the compacted state. */
  journalRecords: number
  /** A torn last journal line was dropped (an append that never completed). */
  tornTail: boolean
  /** Resources whose stored revision was out of range (1e308, Infinity written as null,
   *  2^53 and above: older versions accepted them), kept with revision 0 so the next write
   *  of any revision replaces them instead of every write being refused for good. */
  repaired: Array<{ key: string, revision: unknown }>
}

/** Top-level changes of an object value: properties set, and arrays changed by one splice. */
export interface ValueDelta {
  set?: Record<string, unknown>
  splice?: Array<{ prop: string, at: number, remove: number, insert: unknown[] }>
}

export interface JournalRecord {
  seq: number
  key: string
  /** The whole entry, or the entry without `value` plus `delta` against the previous value. */
  entry: ResourceEntry | Omit<ResourceEntry, 'value'>
  delta?: ValueDelta
}

export function journalPath (path: string): string { return `${path}.journal` }
export function oldJournalPath (path: string): string { return `${path}.journal.old` }

/**
 * `next` as top-level changes to `prev` when both are plain objects with the same keys in
 * the same order and the changes are small (arrays that differ by one splice of identical
 * elements, e.g. a one-host patch); undefined when the whole value should be written.
 */
export function valueDelta (prev: unknown, next: unknown): ValueDelta | undefined {
  if (!isPlainObject(prev) || !isPlainObject(next)) return undefined
  const keys = Object.keys(next)
  const prevKeys = Object.keys(prev)
  if (keys.length !== prevKeys.length) return undefined
  const d: ValueDelta = {}
  let size = 0
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]
    if (k !== prevKeys[i]) return undefined
    const a = prev[k]
    const b = next[k]
    if (a === b) continue
    if (Array.isArray(a) && Array.isArray(b)) {
      const { at, removed: remove, inserted } = spliceOf(a, b)
      const insert = b.slice(at, at + inserted)
      if (remove + insert.length <= Math.max(16, b.length >>> 3)) {
        (d.splice ??= []).push({ prop: k, at, remove, insert })
        size += insert.length
        continue
      }
    }
    (d.set ??= {})[k] = b
    size += 1
  }
  // Anything but a small change: write the value whole (it compacts better).
  return size <= 64 ? d : undefined
}

/** `base` with `delta` applied; undefined when it does not apply (a corrupt journal). */
export function applyDelta (base: unknown, delta: ValueDelta): unknown {
  if (!isPlainObject(base)) return undefined
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(delta.set ?? {})) out[k] = v
  for (const s of delta.splice ?? []) {
    const a = out[s.prop]
    if (!Array.isArray(a) || !Number.isInteger(s.at) || !Number.isInteger(s.remove) || s.at < 0 || s.remove < 0 || s.at + s.remove > a.length || !Array.isArray(s.insert)) return undefined
    const copy = a.slice()
    copy.splice(s.at, s.remove, ...s.insert)
    out[s.prop] = copy
  }
  return out
}

export function isPlainObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
