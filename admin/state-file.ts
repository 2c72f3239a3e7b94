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
 * This file writes (writeStateFile, StateJournal); state-read.ts reads, state-format.ts holds
 * the format and the deltas.
 */
import { constants as fsc } from 'node:fs'
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Logger } from 'pino'
import { isPlainObject, journalPath, oldJournalPath, valueDelta, type CorruptStatePolicy, type JournalRecord, type ReadStateResult, type ResourceEntry } from './state-format.js'
import { readStateFile } from './state-read.js'

// The format and the reader live beside this file; importers keep one entry point.
export { applyDelta, journalPath, MAX_STATE_BYTES, valueDelta } from './state-format.js'
export type { CorruptStatePolicy, ReadStateResult, ResourceEntry, StateFileContent, ValueDelta } from './state-format.js'
export { readStateFile, validRevision } from './state-read.js'

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
