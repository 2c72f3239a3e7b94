/**
 * De-duplication for the exporter: delivery is in order, so one high-water mark per trail
 * and sink says what the sink already holds: the end (segment, byte offset) of the last
 * chained line delivered, and the seq of the last checkpoint. A job re-delivered after a
 * crash, a stalled lock or a producer retry carries lines at or before the mark: skipped.
 */

/** One trail line of a job, with its place in the trail. */
export interface ExportLine {
  readonly raw: string
  readonly kind: string
  readonly seg: number
  /** Byte offsets of the line in its segment (checkpoint jobs: -1). */
  readonly start: number
  readonly end: number
  /** Checkpoints: the seq they cover. */
  readonly seq: number
}

export interface Mark { seg: number, off: number, ckpt: number }

export type Marks = Record<string, Mark>

export function emptyMark (): Mark { return { seg: 0, off: 0, ckpt: 0 } }

export function isNew (m: Mark, l: ExportLine): boolean {
  if (l.kind === 'ckpt') return l.seq > m.ckpt
  return l.seg > m.seg || (l.seg === m.seg && l.start >= m.off)
}

export function advance (m: Mark, l: ExportLine): void {
  if (l.kind === 'ckpt' && l.seq > m.ckpt) m.ckpt = l.seq
  if (l.seg < 0) return // a checkpoint job's line has no place in a segment
  // Every in-trail line moves the mark forward, a checkpoint already delivered by its own job
  // too: the mark ends where the job's chunk ends (see `overtakes`). Never backwards.
  if (l.seg > m.seg || (l.seg === m.seg && l.end > m.off)) { m.seg = l.seg; m.off = l.end }
}

/**
 * True when a sink's mark is before `after`, the end of the chunk enqueued just before a job:
 * the sink does not hold that chunk yet (the job overtook it, or the chunk is lost, or the sink
 * is new). The exporter then asks where that chunk's job is.
 */
export function behind (m: Mark, after: { seg: number, off: number } | null | undefined): boolean {
  if (after === null || after === undefined) return false
  return m.seg < after.seg || (m.seg === after.seg && m.off < after.off)
}

/** The lines of a `records` job ({seg, from, lines}) or a `checkpoint` job ({line}). */
export function jobLines (name: string, data: { seg?: number, from?: number, lines?: string, line?: string }): ExportLine[] {
  if (name === 'checkpoint') {
    const raw = String(data.line ?? '')
    return raw === '' ? [] : [{ raw, kind: 'ckpt', seg: -1, start: -1, end: -1, seq: seqOf(raw) }]
  }
  const seg = Number(data.seg)
  let at = Number(data.from)
  const out: ExportLine[] = []
  for (const raw of String(data.lines ?? '').split('\n')) {
    if (raw === '') continue
    const len = Buffer.byteLength(raw) + 1
    const kind = kindOf(raw)
    out.push({ raw, kind, seg, start: at, end: at + len, seq: kind === 'ckpt' ? seqOf(raw) : 0 })
    at += len
  }
  return out
}

function kindOf (raw: string): string {
  // Every envelope has "k" at top level; a call's fields are escaped inside "call", so the
  // first unescaped "k": outside it is the envelope's.
  const i = raw.lastIndexOf('"k":"')
  if (i < 0) return ''
  return raw.slice(i + 5, raw.indexOf('"', i + 5))
}

function seqOf (raw: string): number {
  const i = raw.lastIndexOf('"seq":')
  return i < 0 ? 0 : parseInt(raw.slice(i + 6, i + 26), 10) || 0
}
