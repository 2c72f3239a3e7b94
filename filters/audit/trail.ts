/**
 * One audit trail (one directory) as the gateway's thread sees it. The call path appends one
 * string per call to a batch; every `flushMs` (or 256 KiB) the batch goes to the trail thread
 * (trail-worker.ts), which hashes, writes and exports it. Memory is bounded: past
 * `maxBufferBytes` not yet taken by the thread, records are dropped and the loss is declared
 * in the trail. Trails are shared by directory across config revisions (reference counted),
 * so two revisions never write one directory twice. The trail thread starts at the first
 * record, or shortly after the filter is made when the queue is on (to export a spool left by
 * a previous run): a config check (`isthmus start --check`) opens nothing.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import { LOCK_FILE } from './segment-files.js'
import { RecordRing } from './record-ring.js'
import { Flag, newSharedState, type SharedState } from './shared-state.js'
import type { FromWorker, TrailSettings, TrailWorkerData } from './trail-protocol.js'

/** The trail thread is woken at this many new characters even before `flushMs`. */
const WAKE_CHARS = 256 * 1024
/** How long a close waits for the trail thread to have everything on disk. */
const CLOSE_WAIT_MS = 10_000
const RESPAWN_MS = 1000
const EARLY_START_MS = 500

const FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(FROM_SOURCE ? './trail-worker.ts' : './trail-worker.js', import.meta.url)
// Run from TypeScript sources (tests, benchmarks): the thread registers the tsx loader first.
const WORKER_SOURCE = FROM_SOURCE
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(m => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}) })`
  : null
const kTrail = Symbol('isthmus.auditTrail')
type TaggedWorker = Worker & { [kTrail]: Trail }

const open = new Map<string, Trail>()

export interface TrailIdentity {
  readonly entity: string
  readonly node: string
}

export class Trail {
  readonly dir: string
  readonly shared: SharedState = newSharedState()
  readonly #id: TrailIdentity
  #settings: TrailSettings
  #logger: Logger
  #refs = 0
  /** Bumped by every acquire: the newest filter instance owns the trail. */
  #generation = 0
  #worker: TaggedWorker | null = null
  #failed = false
  #closed = false
  readonly #ringBuffer: SharedArrayBuffer
  readonly #ring: RecordRing
  /** Characters written to the ring since the trail thread was last woken. */
  #sinceWake = 0
  #armed = false
  #timer: NodeJS.Timeout
  #flushMs: number
  /** The trail thread died and a new one is due: records wait in the ring. */
  #respawning = false
  #early: NodeJS.Timeout | null = null
  /** Records dropped at the bound and not yet declared in the ring. */
  #lost = 0
  /** Records dropped because the trail could not be opened at all. */
  unrecorded = 0
  /** Records dropped at the memory bound (declared in the trail). */
  dropped = 0
  /** Event lines dropped: the memory bound, or a trail that could not be opened. */
  droppedEvents = 0
  /** The last ref given to a record that may get events (ring lines `<ms>,<ref>`). */
  #ref = 0

  private constructor (dir: string, id: TrailIdentity, settings: TrailSettings, flushMs: number, logger: Logger) {
    this.dir = dir
    this.#id = id
    this.#settings = settings
    this.#logger = logger
    this.#flushMs = flushMs
    // The memory bound: the ring's size is fixed when the trail opens.
    this.#ringBuffer = RecordRing.allocate(settings.maxBufferBytes)
    this.#ring = new RecordRing(this.#ringBuffer, this.shared.ringPositions)
    // One timer per trail, re-armed with refresh() for each batch (it fires once now, harmlessly).
    this.#timer = setTimeout(flushTrail, flushMs, this)
    this.#timer.unref()
  }

  /** The trail of `dir`, shared with earlier revisions; its settings become `settings`. */
  static acquire (dir: string, id: TrailIdentity, settings: TrailSettings, flushMs: number, logger: Logger): Trail {
    const key = resolve(dir)
    let t = open.get(key)
    if (t === undefined) {
      t = new Trail(key, id, settings, flushMs, logger)
      open.set(key, t)
    } else {
      t.#configure(settings, flushMs, logger)
    }
    t.#refs++
    t.#generation++
    if (settings.queue !== null && t.#worker === null && t.#early === null) {
      t.#early = setTimeout(startEarly, EARLY_START_MS, t)
      t.#early.unref()
    }
    return t
  }

  /** Every open trail (metrics). */
  static all (): IterableIterator<Trail> { return open.values() }

  /** True while calls that require audit should be refused (spool full, trail not writable). */
  get refusing (): boolean {
    return this.#failed || Atomics.load(this.shared.flags, Flag.Refusing) === 1
  }

  /** Bytes in the ring the trail thread has not taken yet. */
  get pendingBytes (): number { return this.#ring.used }

  /**
   * One record: the call's start (epoch ms) and its `call` JSON. The call path's only audit
   * cost. `linked`: the call may get events later (appendEvent); returns the ref that links
   * them to this record (0: none, or the record was not taken).
   */
  append (startMs: number, callJson: string, linked = false): number {
    if (this.#closed) { this.unrecorded++; return 0 } // a call that outlived the gateway's close
    if (this.#worker === null && !this.#respawning && !this.#start()) { this.unrecorded++; return 0 }
    if (this.#lost > 0 && this.#ring.writeGap(this.#lost, 'gateway audit buffer full')) this.#lost = 0
    const ref = linked ? (this.#ref = this.#ref >= 0x7fffffff ? 1 : this.#ref + 1) : 0
    if (!this.#ring.write(startMs, callJson, ref)) { this.#lost++; this.dropped++; return 0 }
    this.#wrote(callJson.length)
    return ref
  }

  /** One event line (ring format `E\t...`, record-ring.ts), off the call path. */
  appendEvent (line: string): void {
    if (this.#closed || (this.#worker === null && !this.#respawning && !this.#start())) { this.droppedEvents++; return }
    if (!this.#ring.writeLine(line)) { this.droppedEvents++; return }
    this.#wrote(line.length)
  }

  #wrote (chars: number): void {
    this.#sinceWake += chars
    if (this.#sinceWake >= WAKE_CHARS) this.flush()
    else if (!this.#armed) { this.#armed = true; this.#timer.refresh() }
  }

  /** Wake the trail thread: the ring holds records. */
  flush (): void {
    this.#armed = false
    this.#sinceWake = 0
    this.#worker?.postMessage(WAKE)
  }

  get generation (): number { return this.#generation }

  /**
   * A filter instance is done with the trail. The last one, or the newest (the gateway closes
   * the current revision's filters at shutdown, after the drain; older revisions' instances
   * are closed later by their own timers), closes it, synchronously flushed.
   */
  release (generation: number): void {
    if (this.#closed) return
    if (--this.#refs > 0 && generation !== this.#generation) return
    this.close()
  }

  /** Flush everything to disk and stop (waits for the trail thread: the process may exit next). */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    open.delete(this.dir)
    clearTimeout(this.#timer)
    if (this.#early !== null) clearTimeout(this.#early)
    const w = this.#worker
    if (w === null) return
    this.flush()
    w.postMessage(CLOSE)
    if (Atomics.load(this.shared.flags, Flag.State) !== 2) {
      const r = Atomics.wait(this.shared.flags, Flag.Closed, 0, CLOSE_WAIT_MS)
      if (r === 'timed-out') this.#logger.error({ dir: this.dir }, 'audit trail did not flush within 10 s of close')
    }
    setTimeout(terminate, 2000, w).unref()
    releaseLock(this.dir)
  }

  #configure (settings: TrailSettings, flushMs: number, logger: Logger): void {
    this.#settings = settings
    this.#logger = logger
    if (flushMs !== this.#flushMs) {
      this.#flushMs = flushMs
      clearTimeout(this.#timer)
      this.#timer = setTimeout(flushTrail, flushMs, this)
      this.#timer.unref()
      this.#armed = true
    }
    this.#worker?.postMessage({ t: 'config', settings })
  }

  /** Open the directory (lock) and start the trail thread. False when that failed (logged once). */
  #start (respawn = false): boolean {
    if (this.#failed || this.#closed) return false
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 })
      if (!respawn) takeLock(this.dir)
    } catch (err) {
      this.#failed = true
      this.#logger.error({ dir: this.dir, err: (err as Error).message }, 'cannot open the audit trail; calls are not audited')
      return false
    }
    const data: TrailWorkerData = { dir: this.dir, entity: this.#id.entity, node: this.#id.node, settings: this.#settings, shared: this.shared.buffer, ring: this.#ringBuffer }
    const w = (WORKER_SOURCE === null
      ? new Worker(WORKER_URL, { workerData: data })
      : new Worker(WORKER_SOURCE, { workerData: data, eval: true })) as TaggedWorker
    w[kTrail] = this
    w.on('message', onWorkerMessage)
    w.on('error', onWorkerError)
    w.on('exit', onWorkerExit)
    // Never what keeps the process alive: close() and the exit hook below flush it.
    w.unref()
    this.#worker = w
    return true
  }

  /**
   * The trail thread ended without being asked. Records it had not taken are still in the
   * ring: the next thread takes them (the ring's read position moves only after a write).
   */
  handleExit (w: Worker): void {
    if (this.#worker !== w || this.#closed) return
    this.#worker = null
    if (Atomics.load(this.shared.flags, Flag.State) === 2) {
      this.#failed = true // it could not open the trail: see its log line
      return
    }
    this.#respawning = true
    this.#logger.error({ dir: this.dir }, 'audit trail thread exited; restarting it')
    setTimeout(respawn, RESPAWN_MS, this).unref()
  }

  respawn (): void {
    if (this.#closed || this.#worker !== null) return
    this.#respawning = false
    Atomics.store(this.shared.flags, Flag.State, 0)
    if (this.#start(true)) this.flush()
  }

  startEarly (): void {
    this.#early = null
    if (this.#worker === null && !this.#closed) this.#start()
  }

  log (m: FromWorker): void {
    this.#logger[m.level]({ dir: this.dir, err: m.err }, m.msg)
  }
}

function flushTrail (t: Trail): void { t.flush() }
function startEarly (t: Trail): void { t.startEarly() }
function respawn (t: Trail): void { t.respawn() }
const WAKE = Object.freeze({ t: 'wake' })
const CLOSE = Object.freeze({ t: 'close' })
function terminate (w: Worker): void { void w.terminate() }
function onWorkerMessage (this: TaggedWorker, m: FromWorker): void { if (m.t === 'log') this[kTrail].log(m) }
function onWorkerError (this: TaggedWorker, err: Error): void { this[kTrail].log({ t: 'log', level: 'error', msg: 'audit trail thread failed', err: err.message }) }
function onWorkerExit (this: TaggedWorker): void { this[kTrail].handleExit(this) }

/** A lock file naming the writing process; one left by a process that is gone is taken over. */
function takeLock (dir: string): void {
  const file = join(dir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }) + '\n')
      closeSync(fd)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let pid = 0
      try { pid = Number((JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }).pid) } catch {}
      if (pid > 0 && pid !== process.pid && alive(pid)) throw new Error(`${dir} is in use by process ${pid} (${file})`)
      unlinkSync(file)
    }
  }
  throw new Error(`cannot take ${file}`)
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

function releaseLock (dir: string): void {
  try { unlinkSync(join(dir, LOCK_FILE)) } catch {}
}

// A process that exits without closing its filters still gets every record it took onto disk.
process.on('exit', () => { for (const t of [...open.values()]) t.close() })
