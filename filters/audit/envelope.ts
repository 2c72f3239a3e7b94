/**
 * The trail's line kinds, as canonical JSON (sorted keys) without their `h`:
 * - `seg`: first line of every segment file; `prev` is the chain head before it (the last entry
 *   of the previous segment), `next` the seq of the next record, `torn` the bytes of a torn
 *   last line the previous segment was left with (a crash mid-write), else 0;
 * - `rec`: one call (`call` is record.ts's object), `id` = `<trail>.<seq>` (unique, for de-dup);
 * - `gap`: the gateway declares `count` records lost after seq `seq` (its buffer was full, or
 *   its writer thread died), so a loss is visible and cannot be passed off as a deletion;
 * - `ckpt`: a signed checkpoint (checkpoint.ts); not chained, it vouches for the chain up to
 *   record `seq`, whose hash is `head`.
 * - an event a filter reported on a call (`call.report`, e.g. `mirror`: a response mismatch),
 *   `k` = its kind: `data` is the event's metadata, `rec` the id of the call's record (null
 *   when the writer no longer knows it), `trace` the call's trace ids as its record shows them.
 * Every chained line (seg, rec, gap) carries `h` (hash-chain.ts). `v` is the format version.
 * Unknown kinds are chained and verified like the others, so new kinds are no format change.
 */

export const FORMAT_VERSION = 1

/** JSON strings of the fields every line of one writer shares, built once. */
export interface EnvelopeConstants {
  readonly entityJson: string
  readonly nodeJson: string
  readonly trail: string
}

export function envelopeConstants (entity: string, node: string, trail: string): EnvelopeConstants {
  return Object.freeze({ entityJson: JSON.stringify(entity), nodeJson: JSON.stringify(node), trail })
}

export function recordEntry (e: EnvelopeConstants, callJson: string, seq: number, time: string): string {
  return '{"call":' + callJson + ',"entity":' + e.entityJson + ',"id":"' + e.trail + '.' + seq + '","k":"rec","node":' + e.nodeJson +
    ',"seq":' + seq + ',"time":"' + time + '"}'
}

export function segmentEntry (e: EnvelopeConstants, seg: number, next: number, prev: string, torn: number, time: string): string {
  return '{"entity":' + e.entityJson + ',"k":"seg","next":' + next + ',"node":' + e.nodeJson + ',"prev":"' + prev + '","seg":' + seg +
    ',"time":"' + time + '","torn":' + torn + ',"trail":"' + e.trail + '","v":' + FORMAT_VERSION + '}'
}

export function gapEntry (e: EnvelopeConstants, afterSeq: number, count: number, reason: string, time: string): string {
  return '{"count":' + count + ',"entity":' + e.entityJson + ',"k":"gap","node":' + e.nodeJson + ',"reason":' + JSON.stringify(reason) +
    ',"seq":' + afterSeq + ',"time":"' + time + '","trail":"' + e.trail + '"}'
}

/** Line kinds an event may not take (verify and the exporter give them their own meaning). */
export const RESERVED_KINDS: ReadonlySet<string> = new Set(['seg', 'rec', 'gap', 'ckpt'])

/** `dataJson` and `traceJson` are canonical JSON (the gateway's thread built them). */
export function eventEntry (e: EnvelopeConstants, kind: string, dataJson: string, recId: string | null, traceJson: string, time: string): string {
  return '{"data":' + dataJson + ',"entity":' + e.entityJson + ',"k":"' + kind + '","node":' + e.nodeJson + ',"rec":' + (recId === null ? 'null' : '"' + recId + '"') +
    ',"time":"' + time + '","trace":' + traceJson + ',"trail":"' + e.trail + '"}'
}

/** ISO-8601 time of an epoch-milliseconds instant, cached per millisecond (toISOString costs ~0.6 µs). */
export class IsoClock {
  #ms = -1
  #iso = ''
  iso (ms: number): string {
    if (ms !== this.#ms) { this.#ms = ms; this.#iso = new Date(ms).toISOString() }
    return this.#iso
  }
}
