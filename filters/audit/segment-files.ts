/**
 * The audit directory: segment files `audit-<n>.ndjson` (n from 1, six digits or more),
 * `checkpoints.ndjson` (every checkpoint, appended), `export.cursor` (what the queue has
 * taken), `audit.lock` (the writing process). Reading the tail of the newest segment lets a
 * restarted gateway continue the chain where it stopped.
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { GENESIS } from './hash-chain.js'

export const CHECKPOINTS_FILE = 'checkpoints.ndjson'
export const CURSOR_FILE = 'export.cursor'
export const LOCK_FILE = 'audit.lock'
const SEGMENT_RE = /^audit-(\d{6,})\.ndjson$/

export function segmentName (n: number): string {
  return `audit-${String(n).padStart(6, '0')}.ndjson`
}

export function segmentNumber (name: string): number | null {
  const m = SEGMENT_RE.exec(name)
  return m === null ? null : Number(m[1])
}

/** One segment file on disk. `next` is the seq of its first record (from its header), `records` how many it holds (-1: unknown yet). */
export interface SegmentInfo {
  readonly n: number
  readonly path: string
  bytes: number
  next: number
  records: number
}

/** Where the chain stands at the end of the directory's newest segment. */
export interface TrailState {
  /** Trail id, '' when the directory holds no usable segment (a new trail starts). */
  trail: string
  /** Number of the next segment to create. */
  nextSegment: number
  /** Seq of the last record written (0: none). */
  seq: number
  /** Hash of the last chained line (GENESIS: none). */
  head: string
  /** Bytes of a torn last line in the newest segment (a crash mid-write). */
  torn: number
  segments: SegmentInfo[]
  /** Why an existing trail could not be continued ('' when it could). */
  problem: string
}

function readRange (path: string, from: number, length: number): Buffer {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(length)
    let got = 0
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, from + got)
      if (n === 0) break
      got += n
    }
    return buf.subarray(0, got)
  } finally {
    closeSync(fd)
  }
}

/** The first line of a segment (its header), parsed; null when absent or not JSON. */
export function readHeader (path: string): Record<string, unknown> | null {
  const head = readRange(path, 0, 64 * 1024).toString('utf8')
  const nl = head.indexOf('\n')
  if (nl < 0) return null
  try {
    const v = JSON.parse(head.slice(0, nl)) as unknown
    return typeof v === 'object' && v !== null && (v as { k?: unknown }).k === 'seg' ? v as Record<string, unknown> : null
  } catch {
    return null
  }
}

/** The segment files of `dir`, oldest first, with their sizes and first seqs. */
export function listSegments (dir: string): SegmentInfo[] {
  let names: string[]
  try { names = readdirSync(dir) } catch { return [] }
  const out: SegmentInfo[] = []
  for (const name of names) {
    const n = segmentNumber(name)
    if (n === null) continue
    const path = join(dir, name)
    const bytes = statSync(path).size
    const h = bytes > 0 ? readHeader(path) : null
    out.push({ n, path, bytes, next: typeof h?.next === 'number' ? h.next : -1, records: -1 })
  }
  out.sort((a, b) => a.n - b.n)
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i].next >= 0 && out[i + 1].next >= 0) out[i].records = out[i + 1].next - out[i].next
  }
  return out
}

/**
 * Find the end of the chain in the newest non-empty segment: the last complete line carrying
 * `h`, the seq it leaves off at, the trail id from the header. A torn last line (no newline)
 * is measured, not used.
 */
export function recoverTrail (dir: string): TrailState {
  const segments = listSegments(dir)
  const state: TrailState = { trail: '', nextSegment: 1, seq: 0, head: GENESIS, torn: 0, segments, problem: '' }
  if (segments.length === 0) return state
  state.nextSegment = segments[segments.length - 1].n + 1
  let s: SegmentInfo | undefined
  for (let i = segments.length - 1; i >= 0 && s === undefined; i--) if (segments[i].bytes > 0) s = segments[i]
  if (s === undefined) return state
  const header = readHeader(s.path)
  if (header === null || typeof header.trail !== 'string' || !/^[0-9a-f]{16}$/.test(header.trail)) {
    state.problem = `${s.path} has no readable segment header`
    return state
  }
  const tail = lastChained(s.path, s.bytes)
  state.torn = tail.torn
  if (tail.line === null) { state.problem = `${s.path} has no complete chained line`; return state }
  state.trail = header.trail
  state.head = tail.line.h as string
  const l = tail.line
  if ((l.k === 'rec' || l.k === 'gap') && typeof l.seq === 'number') state.seq = l.seq
  else if (l.k === 'seg' && typeof l.next === 'number') state.seq = l.next - 1
  else state.problem = `${s.path} ends with an entry the writer does not know (${String(l.k)})`
  return state
}

/** The last complete line with an `h`, and the bytes after the last newline, reading back from the end. */
function lastChained (path: string, size: number): { line: Record<string, unknown> | null, torn: number } {
  let span = Math.min(size, 64 * 1024)
  for (;;) {
    const buf = readRange(path, size - span, span)
    const lastNl = buf.lastIndexOf(0x0a)
    const torn = buf.length - lastNl - 1
    if (lastNl < 0 && span < size) { span = Math.min(size, span * 4); continue }
    const lines = buf.subarray(0, Math.max(lastNl, 0)).toString('utf8').split('\n')
    // The first line of a partial read may be cut: skip it unless the read began at 0.
    const from = span < size ? 1 : 0
    for (let i = lines.length - 1; i >= from; i--) {
      try {
        const v = JSON.parse(lines[i]) as Record<string, unknown>
        if (typeof v.h === 'string' && /^[0-9a-f]{64}$/.test(v.h)) return { line: v, torn }
      } catch {}
    }
    if (span >= size) return { line: null, torn }
    span = Math.min(size, span * 4)
  }
}
