/**
 * Reading the admin state at start (admin/state-file.ts): the compacted state, then the
 * journal replayed over it; bounded in size, checked in shape, repaired where an older
 * version stored revisions out of range, corrupt files moved aside and reported.
 */
import { readFile, rename, stat } from 'node:fs/promises'
import { IsthmusError } from '../gateway/errors.js'
import { MAX_REVISION } from './discovery/schema.js'
import {
  applyDelta, journalPath, MAX_STATE_BYTES, oldJournalPath,
  type CorruptStatePolicy, type JournalRecord, type ReadStateResult, type ResourceEntry, type StateFileContent,
} from './state-format.js'

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
