/**
 * The ring line of an event another filter reported on a call (`call.report`, e.g. `mirror`
 * mismatches): built on the gateway's thread, off the call path (the call has ended), as
 * `E\t<ref>\t<ms>\t<kind>\t<data>\t<trace>\n` (record-ring.ts); the trail thread turns it
 * into a chained line of kind `kind` (envelope.ts). Events that cannot be written as one
 * canonical line (a reserved or malformed kind, data that is not JSON, too long, or with a key
 * `k` or `seq` at any depth) are refused.
 */
import type { Call, CallEvent } from '../../gateway/index.js'
import { canonical } from './canonical.js'
import { RESERVED_KINDS } from './envelope.js'
import { traceJson } from './record.js'

/** Longest `data` JSON an event line carries (a mismatch sample is ~700 characters). */
export const MAX_EVENT_DATA = 16 * 1024
const KIND = /^[a-z][a-z0-9-]{0,31}$/

/** The ring line, or null when the event cannot be written. `ref` links it to the call's record (0: none). */
export function eventLine (call: Call, event: CallEvent, ref: number, ms: number): string | null {
  const kind = event.kind
  if (typeof kind !== 'string' || !KIND.test(kind) || RESERVED_KINDS.has(kind)) return null
  let data: string
  try {
    data = canonical(event.data)
  } catch {
    return null
  }
  if (data.length > MAX_EVENT_DATA || data.charCodeAt(0) !== 123 /* { */) return null
  // The producer and exporter find a line's `k` and `seq` by text search (export/positions.ts):
  // no key of that name at any depth (inside strings they are escaped, so only keys match).
  if (data.includes('"k":') || data.includes('"seq":')) return null
  return 'E\t' + ref + '\t' + ms + '\t' + kind + '\t' + data + '\t' + traceJson(call) + '\n'
}
