/**
 * The BullMQ producer (in the trail thread). It reads the segment files from the export
 * cursor on and adds them to the queue in chunks of whole lines (one job per chunk, up to
 * `maxJobBytes`), one add at a time, in order; the cursor (`export.cursor`) moves only after
 * Redis acknowledged the add. Redis down: the add fails fast, the same chunk is retried with
 * back-off (same job id, so a retry of an add Redis did take is a no-op), and the trail
 * files are the spool meanwhile. Checkpoints also go out as their own jobs when they are made.
 *
 * Job `records`: {trail, entity, node, seg, from, to, lines, after, afterJob}; id
 * `<trail>-<seg>-<from>-<to>` (byte offsets of the chunk in its segment); `after` is where the
 * chunk enqueued before it ended ({seg, off}) and `afterJob` that job's id (both null for the
 * first), so the exporter can tell a job that overtook an earlier one (left active by a dead
 * exporter) from the next one in line. Job `checkpoint`: {trail, line}; id
 * `<trail>-ckpt-<seq>`. Lines are the trail's own (headers, records, gaps, checkpoints), so
 * an exported copy verifies with `isthmus audit verify` like the local one.
 */
import { closeSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { CURSOR_FILE, readHeader, type SegmentInfo } from './segment-files.js'
import type { ExportPosition } from './spool.js'

export interface ProducerOptions {
  readonly dir: string
  readonly redisUrl: string
  readonly password: string | undefined
  readonly keyPrefix: string
  readonly queueName: string
  readonly maxJobBytes: number
  readonly entity: string
  readonly node: string
}

export interface ProducerSource {
  /** Segment files, oldest first (sizes kept current by the writer). */
  readonly segments: readonly SegmentInfo[]
  readonly current: SegmentInfo | null
}

export interface ProducerEvents {
  onEnqueued (records: number): void
  onRedis (up: boolean, err?: unknown): void
  onProblem (message: string, err?: unknown): void
}

interface Chunk { seg: number, trail: string, from: number, to: number, lines: string, lastSeq: number, records: number }

const RETRY_MIN_MS = 100
const RETRY_MAX_MS = 5000
const DEPTH_EVERY_MS = 2000

function sleep (ms: number): Promise<void> { return new Promise(resolve => setTimeout(resolve, ms).unref()) }

/** The BullMQ key prefix for a `redis.keyPrefix` (`isthmus:` -> `isthmus:bull`). */
export function bullPrefix (keyPrefix: string): string {
  return keyPrefix + 'bull'
}

export class Producer {
  readonly o: ProducerOptions
  readonly #src: ProducerSource
  readonly #events: ProducerEvents
  readonly #redis: Redis
  readonly #queue: Queue
  pos: ExportPosition
  /** End and job id of the last chunk enqueued (torn tails and dropped segments skipped by `pos` are not in it). */
  #after: { seg: number, off: number } | null
  #afterJob: string | null
  queueDepth = -1
  #redisUp = false
  #closed = false
  #wake: (() => void) | null = null
  #trails = new Map<number, string>()
  #loop: Promise<void>
  #depthTimer: NodeJS.Timeout

  constructor (o: ProducerOptions, src: ProducerSource, events: ProducerEvents) {
    this.o = o
    this.#src = src
    this.#events = events
    const saved = loadCursor(o.dir)
    this.pos = saved ?? { seg: src.segments[0]?.n ?? 1, offset: 0, seq: 0 }
    this.#after = saved === null ? null : { seg: saved.seg, off: saved.offset }
    this.#afterJob = saved?.job ?? null
    this.#redis = new Redis(o.redisUrl, {
      // Fail fast while Redis is down: the chunk stays on disk and is retried.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
      connectionName: `isthmus-audit-${o.node.replace(/[^A-Za-z0-9._-]/g, '_')}`,
      ...(o.password === undefined ? {} : { password: o.password }),
    })
    this.#redis.on('error', noop)
    this.#queue = new Queue(o.queueName, { connection: this.#redis, prefix: bullPrefix(o.keyPrefix) })
    this.#queue.on('error', noop)
    this.#loop = this.#run()
    this.#depthTimer = setInterval(pollDepth, DEPTH_EVERY_MS, this)
    this.#depthTimer.unref()
  }

  /** New bytes were written. */
  wake (): void {
    const w = this.#wake
    if (w !== null) { this.#wake = null; w() }
  }

  /** Export a new checkpoint on its own, now (best effort: it is in the trail too). */
  checkpoint (trail: string, seq: number, line: string): void {
    if (!this.#redisUp) return
    this.#queue.add('checkpoint', { trail, line: line.trimEnd() }, { jobId: `${trail}-ckpt-${seq}`, removeOnComplete: true }).catch(noop)
  }

  async updateDepth (): Promise<void> {
    if (!this.#redisUp) return
    try {
      const c = await this.#queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children')
      this.queueDepth = (c.wait ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0)
    } catch {}
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#depthTimer)
    this.wake()
    await this.#loop
    await this.#queue.close().catch(noop)
    this.#redis.disconnect()
  }

  async #run (): Promise<void> {
    let delay = RETRY_MIN_MS
    while (!this.#closed) {
      const chunk = this.#next()
      if (chunk === null) { await new Promise<void>(resolve => { this.#wake = resolve }); continue }
      const jobId = `${chunk.trail}-${chunk.seg}-${chunk.from}-${chunk.to}`
      for (;;) {
        try {
          await this.#queue.add('records', {
            trail: chunk.trail, entity: this.o.entity, node: this.o.node, seg: chunk.seg, from: chunk.from, to: chunk.to, lines: chunk.lines, after: this.#after, afterJob: this.#afterJob,
          }, { jobId, removeOnComplete: true })
          if (!this.#redisUp) { this.#redisUp = true; this.#events.onRedis(true) }
          delay = RETRY_MIN_MS
          break
        } catch (err) {
          if (this.#redisUp || delay === RETRY_MIN_MS) this.#events.onRedis(false, err)
          this.#redisUp = false
          if (this.#closed) return
          await sleep(delay)
          delay = Math.min(RETRY_MAX_MS, delay * 2)
          if (this.#closed) return
        }
      }
      this.pos = { seg: chunk.seg, offset: chunk.to, seq: chunk.lastSeq > 0 ? chunk.lastSeq : this.pos.seq }
      this.#after = { seg: chunk.seg, off: chunk.to }
      this.#afterJob = jobId
      saveCursor(this.o.dir, { ...this.pos, job: jobId }, this.#events)
      this.#events.onEnqueued(chunk.records)
    }
  }

  /** The next chunk of whole lines after the cursor, or null when everything written is enqueued. */
  #next (): Chunk | null {
    const segs = this.#src.segments
    for (;;) {
      let i = segs.findIndex(s => s.n >= this.pos.seg)
      if (i < 0) return null
      let s = segs[i]
      if (s.n !== this.pos.seg) this.pos = { seg: s.n, offset: 0, seq: this.pos.seq } // deleted (spool drop) or first run
      if (this.pos.offset >= s.bytes) {
        if (s === this.#src.current || i === segs.length - 1) return null
        i++
        s = segs[i]
        this.pos = { seg: s.n, offset: 0, seq: this.pos.seq }
        continue
      }
      const text = readLines(s.path, this.pos.offset, Math.min(s.bytes - this.pos.offset, this.o.maxJobBytes))
      if (text === null) {
        // No complete line: a torn tail of a closed segment is skipped; the current one waits.
        if (s === this.#src.current || i === segs.length - 1) return null
        this.pos = { seg: s.n, offset: s.bytes, seq: this.pos.seq }
        continue
      }
      const to = this.pos.offset + Buffer.byteLength(text)
      return { seg: s.n, trail: this.#trailOf(s), from: this.pos.offset, to, lines: text, lastSeq: lastSeqIn(text), records: countRecords(text) }
    }
  }

  #trailOf (s: SegmentInfo): string {
    let t = this.#trails.get(s.n)
    if (t === undefined) {
      const h = readHeader(s.path)
      t = typeof h?.trail === 'string' ? h.trail : 'unknown'
      this.#trails.set(s.n, t)
    }
    return t
  }
}

function noop (): void {}
function pollDepth (p: Producer): void { p.updateDepth().catch(noop) }

/** Whole lines from `at` (at most `max` bytes, more when one line is longer), or null when none is complete. */
function readLines (path: string, at: number, max: number): string | null {
  let fd: number
  try { fd = openSync(path, 'r') } catch { return null }
  try {
    let size = max
    for (;;) {
      const buf = Buffer.allocUnsafe(size)
      const n = readSync(fd, buf, 0, size, at)
      const nl = buf.subarray(0, n).lastIndexOf(0x0a)
      if (nl >= 0) return buf.subarray(0, nl + 1).toString('utf8')
      if (n < size) return null
      size *= 2
    }
  } finally {
    closeSync(fd)
  }
}

function lastSeqIn (text: string): number {
  const i = text.lastIndexOf('"seq":')
  if (i < 0) return 0
  return parseInt(text.slice(i + 6, i + 26), 10) || 0
}

function countRecords (text: string): number {
  let n = 0
  let i = text.indexOf('"k":"rec"')
  while (i >= 0) { n++; i = text.indexOf('"k":"rec"', i + 9) }
  return n
}

/** What the cursor file holds: the end of the last chunk Redis took, and that chunk's job id. */
interface SavedCursor extends ExportPosition { readonly job?: string }

/** The saved cursor, or null on a first run. */
function loadCursor (dir: string): SavedCursor | null {
  try {
    const c = JSON.parse(readFileSync(join(dir, CURSOR_FILE), 'utf8')) as Partial<SavedCursor>
    if (typeof c.seg === 'number' && typeof c.offset === 'number' && typeof c.seq === 'number') {
      return { seg: c.seg, offset: c.offset, seq: c.seq, ...(typeof c.job === 'string' ? { job: c.job } : {}) }
    }
  } catch {}
  return null
}

function saveCursor (dir: string, pos: SavedCursor, events: ProducerEvents): void {
  const file = join(dir, CURSOR_FILE)
  try {
    writeFileSync(file + '.tmp', JSON.stringify(pos) + '\n', { mode: 0o600 })
    renameSync(file + '.tmp', file)
  } catch (err) {
    events.onProblem('cannot save the export cursor', err)
  }
}
