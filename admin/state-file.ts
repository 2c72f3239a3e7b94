/**
 * The persisted admin state: every accepted resource with its revision, read at start before
 * the listeners open. Two files:
 * - `<file>`: the compacted state, always written whole and atomically (temp file, fsync,
 *   rename, fsync of the directory). It names the last journal record it includes
 *   (`journalSeq`).
 * - `<file>.journal`: one JSON line per accepted change since, appended and fsynced before
 *   the admin answers. A change to a big resource is written as a delta against the previous
 *   value (a splice of its `instances`, say), so a one-host change of a 10,000-instance app
 *   costs a ~200-byte append instead of rewriting ~1 MB.
 * When the journal outgrows the compacted state it is rotated (`<file>.journal.old`) and the
 * state is rewritten in the background (serialised in slices, yielding between them), then
 * the old journal is removed. Records at or below the state's `journalSeq` are skipped on
 * load, so a crash at any step restores exactly the acknowledged changes. A file (or a
 * complete journal line) that does not parse is moved aside (`<file>.corrupt-<ts>`) and
 * reported, never silently discarded; a torn last journal line is an append that was never
 * acknowledged (the process died before its fsync) and is dropped with a warning.
 */
import { constants as fsc } from 'node:fs'
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Logger } from 'pino'
import { IsthmusError } from '../gateway/errors.js'
import { spliceOf } from '../gateway/util/arrays.js'
import { MAX_REVISION } from './discovery/schema.js'

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

interface JournalRecord {
  seq: number
  key: string
  /** The whole entry, or the entry without `value` plus `delta` against the previous value. */
  entry: ResourceEntry | Omit<ResourceEntry, 'value'>
  delta?: ValueDelta
}

export function journalPath (path: string): string { return `${path}.journal` }
function oldJournalPath (path: string): string { return `${path}.journal.old` }

/** Read the compacted state and replay the journal over it (no file is changed unless
 *  something is corrupt: then it is moved aside). */
export async function readStateFile (path: string, onCorrupt: CorruptStatePolicy = 'fail'): Promise<ReadStateResult> {
  const resources = new Map<string, ResourceEntry>()
  const repaired: Array<{ key: string, revision: unknown }> = []
  let baseSeq = 0
  const text = await readText(path)
  if (text !== null) {
    let problem: string | null = null
    try {
      const parsed = JSON.parse(text) as unknown
      problem = checkShape(parsed)
      if (problem === null) {
        const c = parsed as StateFileContent
        for (const [k, e] of Object.entries(c.resources)) resources.set(k, repairRevision(k, e, repaired))
        baseSeq = c.journalSeq ?? 0
      }
    } catch (err) {
      problem = `not valid JSON (${(err as Error).message})`
    }
    if (problem !== null) return await corrupt(path, problem, onCorrupt, [journalPath(path), oldJournalPath(path)], { resources: new Map(), seq: 0, repaired: [] })
  }
  let seq = baseSeq
  let records = 0
  let tornTail = false
  for (const file of [oldJournalPath(path), journalPath(path)]) {
    const j = await readText(file)
    if (j === null || j === '') continue
    const lines = j.split('\n')
    // The last element is '' when the file ends with a newline; anything else is torn.
    const tail = lines.pop()!
    if (tail !== '') tornTail = true
    for (let i = 0; i < lines.length; i++) {
      const problem = replay(lines[i], resources, baseSeq, seq, repaired)
      // Policy discard keeps the changes before the bad line (they were acknowledged).
      // (A later journal continues this one: it is set aside with it.)
      if (typeof problem === 'string') return await corrupt(file, `line ${i + 1}: ${problem}`, onCorrupt, file === oldJournalPath(path) ? [journalPath(path)] : [], { resources, seq, repaired })
      if (problem > baseSeq) records++
      seq = Math.max(seq, problem)
    }
  }
  return { resources, seq, journalRecords: records, tornTail, repaired }
}

/** A revision the admin accepts today: an exact integer from 0 to 2^53 - 1. */
export function validRevision (r: unknown): r is number {
  return typeof r === 'number' && Number.isSafeInteger(r) && r >= 0 && r <= MAX_REVISION
}

/** `e`, or `e` with revision 0 when its revision is out of range (recorded in `repaired`). */
function repairRevision<E extends { revision: number }> (key: string, e: E, repaired: Array<{ key: string, revision: unknown }>): E {
  if (validRevision(e.revision)) return e
  repaired.push({ key, revision: e.revision })
  return { ...e, revision: 0 }
}

/** Apply one journal line; returns its seq, or a problem. */
function replay (line: string, resources: Map<string, ResourceEntry>, baseSeq: number, lastSeq: number, repaired: Array<{ key: string, revision: unknown }>): number | string {
  let r: JournalRecord
  try {
    r = JSON.parse(line) as JournalRecord
  } catch (err) {
    return `not valid JSON (${(err as Error).message})`
  }
  if (r === null || typeof r !== 'object' || !Number.isInteger(r.seq) || typeof r.key !== 'string' || r.entry === null || typeof r.entry !== 'object') return 'not a journal record'
  if (r.seq <= lastSeq && r.seq > baseSeq) return `sequence ${r.seq} does not follow ${lastSeq}`
  if (!isRevisionLike(r.entry.revision)) return 'revision is not a number'
  if (r.seq <= baseSeq) return r.seq // already in the compacted state
  if (r.delta === undefined) {
    if (!('value' in r.entry)) return 'value is missing'
    resources.set(r.key, repairRevision(r.key, r.entry as ResourceEntry, repaired))
    return r.seq
  }
  const base = resources.get(r.key)?.value
  const value = applyDelta(base, r.delta)
  if (value === undefined) return `delta for ${r.key} does not apply to the stored value`
  resources.set(r.key, repairRevision(r.key, { ...(r.entry as Omit<ResourceEntry, 'value'>), value }, repaired))
  return r.seq
}

/** What an older version may have stored as a revision: a non-negative number, or null (it
 *  wrote Infinity as null). Anything else is corruption. */
function isRevisionLike (r: unknown): boolean {
  return r === null || (typeof r === 'number' && r >= 0)
}

async function readText (file: string): Promise<string | null> {
  try {
    const st = await stat(file)
    if (st.size > MAX_STATE_BYTES) {
      throw new IsthmusError('ISTH_ERR_STATE_CORRUPT', `${file}: ${st.size} bytes is over the ${MAX_STATE_BYTES / 1048576} MiB a state file may hold; it was not read (move it aside to start without it)`, '/state')
    }
    return await readFile(file, 'utf8')
  } catch (err) {
    if (err instanceof IsthmusError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new IsthmusError('ISTH_ERR_STATE_CORRUPT', `${file}: cannot read: ${(err as Error).message}`, '/state')
  }
}

async function corrupt (file: string, problem: string, onCorrupt: CorruptStatePolicy, alsoAside: string[], kept: { resources: Map<string, ResourceEntry>, seq: number, repaired: ReadStateResult['repaired'] }): Promise<ReadStateResult> {
  const ts = new Date().toISOString().replace(/[:.]/g, '-')
  const aside = `${file}.corrupt-${ts}`
  await rename(file, aside)
  // A journal is a list of changes to the file it follows: without that file it means nothing.
  for (const f of alsoAside) await rename(f, `${f}.corrupt-${ts}`).catch(() => {})
  if (onCorrupt === 'discard') return { resources: kept.resources, movedAside: aside, problem, seq: kept.seq, journalRecords: 0, tornTail: false, repaired: kept.repaired }
  throw new IsthmusError('ISTH_ERR_STATE_CORRUPT',
    `${file}: ${problem}; moved aside to ${aside}. Inspect it, then restore it or start without it (the admin state will be empty or bootstrapped from Redis)`,
    '/state')
}

function checkShape (v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'top level is not an object'
  const o = v as Partial<StateFileContent>
  if (o.format !== 'isthmus-admin-state') return 'format is not "isthmus-admin-state"'
  if (o.version !== 1) return `unsupported version ${String(o.version)}`
  if (o.journalSeq !== undefined && (!Number.isInteger(o.journalSeq) || o.journalSeq < 0)) return 'journalSeq is not a non-negative integer'
  if (o.resources === null || typeof o.resources !== 'object' || Array.isArray(o.resources)) return 'resources is not an object'
  for (const [k, e] of Object.entries(o.resources)) {
    if (e === null || typeof e !== 'object') return `resources["${k}"] is not an object`
    if (!isRevisionLike(e.revision)) return `resources["${k}"].revision is not a number`
    if (!('value' in e)) return `resources["${k}"].value is missing`
  }
  return null
}

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

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** Write the whole state atomically: temp file + fsync + rename + directory fsync. The JSON is
 *  built in slices with a yield between them, so a big state does not stall the event loop. */
export async function writeStateFile (path: string, nodeId: string, resources: ReadonlyMap<string, ResourceEntry>, journalSeq = 0): Promise<number> {
  const head = JSON.stringify({ format: 'isthmus-admin-state', version: 1, nodeId, savedAt: new Date().toISOString(), journalSeq }).slice(0, -1)
  const parts: string[] = [head, ',"resources":{']
  let first = true
  for (const [k, e] of resources) {
    parts.push(`${first ? '' : ','}${JSON.stringify(k)}:`)
    first = false
    await stringifySliced(e, parts)
  }
  parts.push('}}')
  const text = parts.join('')
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`)
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600)
  try {
    await fh.writeFile(text, 'utf8')
    await fh.sync()
  } catch (err) {
    await fh.close()
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fh.close()
  await rename(tmp, path)
  await syncDir(path)
  return Buffer.byteLength(text)
}

const SLICE = 1000

/** JSON of `v` pushed to `out`; arrays of more than SLICE items (two levels down: an entry's
 *  value's `instances`) are stringified SLICE items at a time with a yield between. */
async function stringifySliced (v: unknown, out: string[], depth = 0): Promise<void> {
  if (Array.isArray(v) && v.length > SLICE) {
    out.push('[')
    for (let i = 0; i < v.length; i += SLICE) {
      const s = JSON.stringify(v.slice(i, i + SLICE))
      out.push((i === 0 ? '' : ',') + s.slice(1, -1))
      await yieldToLoop()
    }
    out.push(']')
    return
  }
  if (depth < 2 && isPlainObject(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
    out.push('{')
    let first = true
    for (const k of Object.keys(v)) {
      const x = v[k]
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue
      out.push(`${first ? '' : ','}${JSON.stringify(k)}:`)
      first = false
      await stringifySliced(x, out, depth + 1)
    }
    out.push('}')
    return
  }
  out.push(JSON.stringify(v) ?? 'null')
}

async function syncDir (path: string): Promise<void> {
  // The rename (or a new file) is durable only once the directory entry is.
  try {
    const dir = await open(dirname(path), fsc.O_RDONLY)
    try { await dir.sync() } finally { await dir.close() }
  } catch { /* some filesystems refuse fsync on a directory; the rename is still atomic */ }
}

export interface StateJournalOptions {
  path: string
  nodeId: string
  onCorrupt?: CorruptStatePolicy
  logger?: Logger
  /** Rotate and compact when the journal is larger than this many bytes and than the last
   *  compacted state. Default 64 KiB. */
  compactBytes?: number
}

/**
 * The writer side: `open` restores the state (compacting any journal left by the last run),
 * `append` journals accepted changes, compaction runs in the background. Appends must not
 * overlap (the admin store runs its writes one at a time).
 */
export class StateJournal {
  readonly path: string
  readonly #o: StateJournalOptions
  readonly #log: Logger | null
  #fh: FileHandle | null = null
  #seq: number
  #bytes = 0
  #stateBytes = 0
  #compacting: Promise<void> | null = null
  #closed = false

  private constructor (o: StateJournalOptions, seq: number) {
    this.path = o.path
    this.#o = o
    this.#log = o.logger ?? null
    this.#seq = seq
  }

  static async open (o: StateJournalOptions): Promise<{ journal: StateJournal, state: ReadStateResult }> {
    const state = await readStateFile(o.path, o.onCorrupt ?? 'fail')
    if (state.tornTail) o.logger?.warn({ file: journalPath(o.path) }, 'admin state journal ends in a torn line (an append that never completed); dropped it')
    for (const r of state.repaired) {
      o.logger?.warn({ file: o.path, key: r.key, revision: r.revision }, 'admin state: stored revision out of range (0 to 2^53-1); kept the value with revision 0, so the next write of this resource replaces it')
    }
    const j = new StateJournal(o, state.seq)
    // Start from a compacted state and an empty journal (this also drops a torn tail and
    // writes the repaired revisions).
    if (state.journalRecords > 0 || state.tornTail || state.repaired.length > 0 || state.movedAside !== undefined || (await exists(journalPath(o.path))) || (await exists(oldJournalPath(o.path)))) {
      j.#stateBytes = await writeStateFile(o.path, o.nodeId, state.resources, state.seq)
      await unlink(oldJournalPath(o.path)).catch(() => {})
      await unlink(journalPath(o.path)).catch(() => {})
    } else {
      j.#stateBytes = await size(o.path)
    }
    return { journal: j, state }
  }

  /**
   * Journal accepted changes (one line each: a delta against `prev` when small) and fsync
   * before returning. `resources` is the whole state after them, for compaction.
   */
  async append (changes: ReadonlyArray<{ key: string, entry: ResourceEntry, prev: ResourceEntry | undefined }>, resources: ReadonlyMap<string, ResourceEntry>): Promise<void> {
    if (this.#closed) throw new Error('state journal is closed')
    if (changes.length === 0) return
    let text = ''
    for (const c of changes) {
      const delta = c.prev === undefined ? undefined : valueDelta(c.prev.value, c.entry.value)
      const { value: _v, ...meta } = c.entry
      const r: JournalRecord = delta === undefined ? { seq: ++this.#seq, key: c.key, entry: c.entry } : { seq: ++this.#seq, key: c.key, entry: meta, delta }
      text += JSON.stringify(r) + '\n'
    }
    const fh = await this.#handle()
    await fh.appendFile(text, 'utf8')
    await fh.datasync()
    this.#bytes += Buffer.byteLength(text)
    if (this.#compacting === null && this.#bytes > Math.max(this.#o.compactBytes ?? 64 * 1024, this.#stateBytes)) {
      // The changes are durable already: a failed rotation only postpones the compaction.
      try {
        await this.#rotate()
        this.#compacting = this.#compact(resources, this.#seq).finally(() => { this.#compacting = null })
      } catch (err) {
        this.#log?.error({ err, file: journalPath(this.path) }, 'admin state journal rotation failed')
      }
    }
  }

  /** Wait for a running compaction (tests, close). */
  async settled (): Promise<void> { await this.#compacting }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#compacting
    await this.#fh?.close()
    this.#fh = null
  }

  async #handle (): Promise<FileHandle> {
    if (this.#fh !== null) return this.#fh
    const created = !(await exists(journalPath(this.path)))
    this.#fh = await open(journalPath(this.path), fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600)
    if (created) await syncDir(this.path)
    return this.#fh
  }

  /** New appends go to a fresh journal; the current one waits as `.old` for the compaction.
   *  Skipped when a previous compaction failed and left its `.old` (its records stay valid
   *  on load: the journal sequence filters them). */
  async #rotate (): Promise<void> {
    if (await exists(oldJournalPath(this.path))) return
    await this.#fh?.close()
    this.#fh = null
    await rename(journalPath(this.path), oldJournalPath(this.path))
    this.#bytes = 0
  }

  async #compact (resources: ReadonlyMap<string, ResourceEntry>, seq: number): Promise<void> {
    try {
      this.#stateBytes = await writeStateFile(this.path, this.#o.nodeId, resources, seq)
      await unlink(oldJournalPath(this.path)).catch(() => {})
    } catch (err) {
      // The journal still holds every change: nothing is lost, the next compaction retries.
      this.#log?.error({ err, file: this.path }, 'admin state compaction failed')
    }
  }
}

async function exists (file: string): Promise<boolean> {
  try { await stat(file); return true } catch { return false }
}

async function size (file: string): Promise<number> {
  try { return (await stat(file)).size } catch { return 0 }
}
