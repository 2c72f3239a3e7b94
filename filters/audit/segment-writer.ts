/**
 * The writer (in the trail thread): takes batches of records from the gateway's thread,
 * assigns seqs, hashes each entry onto the chain, writes whole batches to the current
 * segment, rotates by size and age (each new segment's header links to the previous one),
 * writes signed checkpoints every N records or T ms, and declares losses as gap entries.
 * Writes are synchronous (one writeSync per batch, on this thread, off the call path): at
 * close everything received is on disk before the gateway exits.
 */
import { closeSync, fsync, fsyncSync, mkdirSync, openSync, close as closeFd, readSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { checkpointLine, type Signer } from './checkpoint.js'
import { envelopeConstants, eventEntry, gapEntry, IsoClock, recordEntry, segmentEntry, type EnvelopeConstants } from './envelope.js'
import { chainHash, withHash } from './hash-chain.js'
import { CHECKPOINTS_FILE, recoverTrail, segmentName, type SegmentInfo } from './segment-files.js'

export interface WriterOptions {
  readonly dir: string
  readonly entity: string
  readonly node: string
  rotate: { maxBytes: number, intervalMs: number }
  checkpoint: { records: number, intervalMs: number }
  /** Bytes kept for retry while writes fail; past it they are dropped and declared lost. */
  maxUnwrittenBytes: number
}

export interface WriterEvents {
  /** A checkpoint line was written (export it on its own). */
  onCheckpoint (line: string): void
  onProblem (message: string, err?: unknown): void
}

/**
 * Record ids of recent linked records (ring lines `<ms>,<ref>`), for the events that follow
 * them: a mirror copy answers within its timeout (at most 10 min), so the newest 65,536 linked
 * records cover what is still awaited; older refs (and any after a trail-thread restart) get
 * `rec: null` and are found by their trace ids.
 */
const MAX_LINKS = 65536

interface Unwritten { buf: Buffer, at: number, records: number, seq: number, head: string }

function noop (): void {}

/** Bytes after the last newline of a file's first `size` bytes. */
function tornBytes (path: string, size: number): number {
  if (size === 0) return 0
  try {
    const fd = openSync(path, 'r')
    try {
      const span = Math.min(size, 1 << 20)
      const buf = Buffer.allocUnsafe(span)
      const n = readSync(fd, buf, 0, span, size - span)
      const nl = buf.subarray(0, n).lastIndexOf(0x0a)
      return nl < 0 ? n : n - nl - 1
    } finally { closeSync(fd) }
  } catch {
    return 0
  }
}

export class SegmentWriter {
  readonly o: WriterOptions
  readonly segments: SegmentInfo[]
  readonly env: EnvelopeConstants
  readonly #events: WriterEvents
  readonly #clock = new IsoClock()
  #signer: Signer | null
  seq: number
  head: string
  /** Seq and head of what is on disk. */
  #writtenSeq: number
  #writtenHead: string
  #torn: number
  #fd = -1
  #current: SegmentInfo | null = null
  #openedAt = 0
  #ckptFd = -1
  lastCheckpointSeq: number
  #unwritten: Unwritten[] = []
  #unwrittenBytes = 0
  #pendingGap = 0
  #gapReason = ''
  /** ref -> seq of its record. */
  readonly #links = new Map<number, number>()
  bytesWritten = 0
  writeErrors = 0
  checkpoints = 0
  lost = 0
  failing = false

  constructor (o: WriterOptions, signer: Signer | null, events: WriterEvents) {
    this.o = o
    this.#signer = signer
    this.#events = events
    mkdirSync(o.dir, { recursive: true, mode: 0o700 })
    const st = recoverTrail(o.dir)
    let trail = st.trail
    if (trail === '' || st.problem !== '') {
      if (st.problem !== '') events.onProblem(`cannot continue the audit trail: ${st.problem}; starting a new trail`)
      trail = randomBytes(8).toString('hex')
      st.seq = 0
      st.head = '0'.repeat(64)
    }
    this.segments = st.segments
    this.env = envelopeConstants(o.entity, o.node, trail)
    this.seq = this.#writtenSeq = st.seq
    this.head = this.#writtenHead = st.head
    this.#torn = st.torn
    this.lastCheckpointSeq = st.seq
    this.#nextSegment = st.nextSegment
  }

  #nextSegment: number

  get trail (): string { return this.env.trail }
  setSigner (signer: Signer | null): void { this.#signer = signer }
  get current (): SegmentInfo | null { return this.#current }
  get unwrittenBytes (): number { return this.#unwrittenBytes }

  /**
   * A batch from the gateway: lines of `<epoch ms>[,<ref>]\t<call json>`, `G\t<count>\t<reason>`
   * for records dropped before they got here, or `E\t<ref>\t<epoch ms>\t<kind>\t<data>\t<trace>`
   * for an event (record-ring.ts), each ending in '\n'. Returns records taken.
   */
  append (batch: string): number {
    this.#maybeRotate(Date.now())
    // The header goes first: it is chained before the batch's records.
    this.#ensureSegment()
    let out = ''
    let n = 0
    let k = 0
    let start = 0
    while (start < batch.length) {
      const end = batch.indexOf('\n', start)
      const stop = end < 0 ? batch.length : end
      const tab = batch.indexOf('\t', start)
      if (batch.charCodeAt(start) === 71 /* G */ && tab === start + 1) {
        if (out !== '') { this.#write(out, k); out = ''; k = 0 }
        const t2 = batch.indexOf('\t', tab + 1)
        this.declareGap(Number(batch.slice(tab + 1, t2)), batch.slice(t2 + 1, stop))
      } else if (batch.charCodeAt(start) === 69 /* E */ && tab === start + 1) {
        const entry = this.#event(batch.slice(tab + 1, stop))
        if (entry !== null) {
          const h = chainHash(this.head, entry)
          out += withHash(entry, h)
          this.head = h
        }
      } else if (tab > start && tab < stop) {
        const seq = ++this.seq
        const comma = batch.indexOf(',', start)
        const linked = comma > start && comma < tab
        const entry = recordEntry(this.env, batch.slice(tab + 1, stop), seq, this.#clock.iso(Number(batch.slice(start, linked ? comma : tab))))
        if (linked) this.#link(Number(batch.slice(comma + 1, tab)), seq)
        const h = chainHash(this.head, entry)
        out += withHash(entry, h)
        this.head = h
        n++
        k++
      }
      start = stop + 1
    }
    if (out !== '') this.#write(out, k)
    if (this.seq - this.lastCheckpointSeq >= this.o.checkpoint.records) this.checkpoint()
    return n
  }

  #link (ref: number, seq: number): void {
    if (this.#links.size >= MAX_LINKS) this.#links.delete(this.#links.keys().next().value!)
    this.#links.set(ref, seq)
  }

  /** The entry of an event line's fields (`<ref>\t<ms>\t<kind>\t<data>\t<trace>`); null when malformed. */
  #event (f: string): string | null {
    const a = f.indexOf('\t')
    const b = f.indexOf('\t', a + 1)
    const c = f.indexOf('\t', b + 1)
    const d = f.indexOf('\t', c + 1)
    if (a < 0 || b < 0 || c < 0 || d < 0) return null
    const ref = Number(f.slice(0, a))
    const seq = ref > 0 ? this.#links.get(ref) : undefined
    return eventEntry(this.env, f.slice(b + 1, c), f.slice(c + 1, d), seq === undefined ? null : this.env.trail + '.' + seq, f.slice(d + 1), this.#clock.iso(Number(f.slice(a + 1, b))))
  }

  /** Declare `count` records lost (dropped before they reached the writer). */
  declareGap (count: number, reason: string): void {
    this.#pendingGap += count
    this.#gapReason = reason
    this.#flushGap()
  }

  #flushGap (): void {
    if (this.#pendingGap === 0 || this.#unwritten.length > 0) return
    this.#ensureSegment()
    if (this.#fd < 0) return
    const entry = gapEntry(this.env, this.seq, this.#pendingGap, this.#gapReason, this.#clock.iso(Date.now()))
    const h = chainHash(this.head, entry)
    const count = this.#pendingGap
    this.#pendingGap = 0
    this.head = h
    this.lost += count
    this.#write(withHash(entry, h), 0)
  }

  /** Write a checkpoint if records were written since the last one. */
  checkpoint (): void {
    if (this.seq === this.lastCheckpointSeq || this.#unwritten.length > 0 || this.#current === null) return
    const line = checkpointLine(this.env, { seg: this.#current.n, seq: this.seq, head: this.head, time: this.#clock.iso(Date.now()) }, this.#signer)
    this.lastCheckpointSeq = this.seq
    this.#writeRaw(line)
    try {
      if (this.#ckptFd < 0) this.#ckptFd = openSync(join(this.o.dir, CHECKPOINTS_FILE), 'a', 0o600)
      writeSync(this.#ckptFd, line)
      fsync(this.#ckptFd, noop)
    } catch (err) {
      this.#events.onProblem('cannot write checkpoints.ndjson', err)
    }
    if (this.#fd >= 0) fsync(this.#fd, noop)
    this.checkpoints++
    this.#events.onCheckpoint(line)
  }

  /** Retry writes that failed (called by a timer while failing). */
  retry (): void {
    if (this.#unwritten.length > 0) this.#drainUnwritten()
    this.#flushGap()
  }

  /** Everything received is written, a last checkpoint taken, the segment fsynced and closed. */
  close (): void {
    this.retry()
    this.checkpoint()
    if (this.#fd >= 0) {
      try { fsyncSync(this.#fd) } catch {}
      closeSync(this.#fd)
      this.#fd = -1
    }
    if (this.#ckptFd >= 0) { try { fsyncSync(this.#ckptFd) } catch {} closeSync(this.#ckptFd); this.#ckptFd = -1 }
  }

  #maybeRotate (now: number): void {
    const c = this.#current
    if (c === null) return
    const age = now - this.#openedAt
    if (c.bytes < this.o.rotate.maxBytes && (this.o.rotate.intervalMs === 0 || age < this.o.rotate.intervalMs)) return
    if (this.#unwritten.length > 0) return
    this.checkpoint()
    const fd = this.#fd
    // Writes to it are over (they are synchronous): flush and close it off this thread's path.
    fsync(fd, () => closeFd(fd, noop))
    this.#fd = -1
    this.#current = null
  }

  #ensureSegment (): void {
    if (this.#current !== null) return
    const n = this.#nextSegment
    const path = join(this.o.dir, segmentName(n))
    try {
      this.#fd = openSync(path, 'wx', 0o600)
    } catch (err) {
      this.#fail('cannot create the audit segment ' + path, err)
      return
    }
    this.#nextSegment++
    const info: SegmentInfo = { n, path, bytes: 0, next: this.seq + 1, records: -1 }
    const prev = this.segments[this.segments.length - 1]
    if (prev !== undefined && prev.records < 0 && prev.next >= 0) prev.records = info.next - prev.next
    this.segments.push(info)
    this.#current = info
    this.#openedAt = Date.now()
    const entry = segmentEntry(this.env, n, this.seq + 1, this.head, this.#torn, this.#clock.iso(this.#openedAt))
    this.#torn = 0
    const h = chainHash(this.head, entry)
    this.head = h
    this.#write(withHash(entry, h), 0)
  }

  /** A chained entry (records, gap, header): written now, or kept behind what failed. */
  #write (text: string, records: number): void {
    this.#ensureSegment()
    const buf = Buffer.from(text)
    if (this.#unwritten.length > 0 || this.#fd < 0) { this.#keep(buf, 0, records); return }
    const done = this.#writeAt(buf, 0)
    if (done < buf.length) { this.#keep(buf, done, records); return }
    this.#writtenSeq = this.seq
    this.#writtenHead = this.head
  }

  /** Unchained bytes (checkpoints): written now, or kept behind what failed. */
  #writeRaw (text: string): void {
    const buf = Buffer.from(text)
    if (this.#unwritten.length > 0 || this.#fd < 0) { this.#keep(buf, 0, 0); return }
    const done = this.#writeAt(buf, 0)
    if (done < buf.length) this.#keep(buf, done, 0)
  }

  /** Write from `at`; returns how far it got (an error stops it and marks the trail failing). */
  #writeAt (buf: Buffer, at: number): number {
    let p = at
    try {
      while (p < buf.length) {
        const n = writeSync(this.#fd, buf, p, buf.length - p)
        p += n
        this.bytesWritten += n
        this.#current!.bytes += n
      }
      if (this.failing) { this.failing = false; this.#events.onProblem('audit writes succeed again') }
    } catch (err) {
      this.#fail('cannot write the audit segment', err)
    }
    return p
  }

  #keep (buf: Buffer, at: number, records: number): void {
    this.#unwritten.push({ buf, at, records, seq: this.seq, head: this.head })
    this.#unwrittenBytes += buf.length - at
    if (this.#unwrittenBytes <= this.o.maxUnwrittenBytes) return
    // Past the bound: drop what never reached the disk, roll the chain back to the disk's end
    // (those seqs were seen nowhere) and declare the loss there, in a new segment: the current
    // one may end in a partial line, which the next header declares as torn.
    let dropped = 0
    for (const u of this.#unwritten) dropped += u.records
    this.#unwritten = []
    this.#unwrittenBytes = 0
    this.seq = this.#writtenSeq
    this.head = this.#writtenHead
    if (this.lastCheckpointSeq > this.seq) this.lastCheckpointSeq = this.seq
    // Those seqs go to the next records: a link to one of the dropped records would name another.
    for (const [ref, seq] of this.#links) if (seq > this.seq) this.#links.delete(ref)
    this.#pendingGap += dropped
    this.#gapReason = 'audit segment not writable'
    if (this.#current !== null) {
      this.#torn = tornBytes(this.#current.path, this.#current.bytes)
      const fd = this.#fd
      if (fd >= 0) closeFd(fd, noop)
      this.#fd = -1
      this.#current = null
    }
  }

  #drainUnwritten (): void {
    if (this.#fd < 0) { this.#ensureSegment(); if (this.#fd < 0) return }
    while (this.#unwritten.length > 0) {
      const u = this.#unwritten[0]
      const done = this.#writeAt(u.buf, u.at)
      this.#unwrittenBytes -= done - u.at
      if (done < u.buf.length) { u.at = done; return }
      this.#unwritten.shift()
      this.#writtenSeq = u.seq
      this.#writtenHead = u.head
    }
  }

  #fail (what: string, err: unknown): void {
    this.writeErrors++
    if (!this.failing) { this.failing = true; this.#events.onProblem(what, err) }
  }
}
