/**
 * The persisted admin state: every accepted resource with its revision. Written atomically
 * (temp file, fsync, rename, fsync of the directory) after each accepted change, read at
 * start before the listeners open. A file that does not parse is moved aside
 * (`<file>.corrupt-<ts>`) and reported, never silently discarded.
 */
import { constants as fsc } from 'node:fs'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { IsthmusError } from '../gateway/errors.js'

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
  resources: Record<string, ResourceEntry>
}

export type CorruptStatePolicy = 'fail' | 'discard'

export interface ReadStateResult {
  resources: Map<string, ResourceEntry>
  /** Where a corrupt file was moved (policy `discard`), for the log. */
  movedAside?: string
  problem?: string
}

export async function readStateFile (path: string, onCorrupt: CorruptStatePolicy = 'fail'): Promise<ReadStateResult> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { resources: new Map() }
    throw new IsthmusError('ISTH_ERR_STATE_CORRUPT', `${path}: cannot read: ${(err as Error).message}`, '/state')
  }
  let problem: string | null = null
  const resources = new Map<string, ResourceEntry>()
  try {
    const parsed = JSON.parse(text) as unknown
    problem = checkShape(parsed)
    if (problem === null) {
      for (const [k, e] of Object.entries((parsed as StateFileContent).resources)) resources.set(k, e)
    }
  } catch (err) {
    problem = `not valid JSON (${(err as Error).message})`
  }
  if (problem === null) return { resources }
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`
  await rename(path, aside)
  if (onCorrupt === 'discard') return { resources: new Map(), movedAside: aside, problem }
  throw new IsthmusError('ISTH_ERR_STATE_CORRUPT',
    `${path}: ${problem}; moved aside to ${aside}. Inspect it, then restore it or start without it (the admin state will be empty or bootstrapped from Redis)`,
    '/state')
}

function checkShape (v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'top level is not an object'
  const o = v as Partial<StateFileContent>
  if (o.format !== 'isthmus-admin-state') return 'format is not "isthmus-admin-state"'
  if (o.version !== 1) return `unsupported version ${String(o.version)}`
  if (o.resources === null || typeof o.resources !== 'object' || Array.isArray(o.resources)) return 'resources is not an object'
  for (const [k, e] of Object.entries(o.resources)) {
    if (e === null || typeof e !== 'object') return `resources["${k}"] is not an object`
    if (!Number.isInteger(e.revision) || e.revision < 0) return `resources["${k}"].revision is not a non-negative integer`
    if (!('value' in e)) return `resources["${k}"].value is missing`
  }
  return null
}

/** Write the whole state atomically: temp file + fsync + rename + directory fsync. */
export async function writeStateFile (path: string, nodeId: string, resources: ReadonlyMap<string, ResourceEntry>): Promise<void> {
  const content: StateFileContent = {
    format: 'isthmus-admin-state',
    version: 1,
    nodeId,
    savedAt: new Date().toISOString(),
    resources: Object.fromEntries(resources),
  }
  const text = JSON.stringify(content)
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
  // The rename is durable only once the directory entry is.
  try {
    const dir = await open(dirname(path), fsc.O_RDONLY)
    try { await dir.sync() } finally { await dir.close() }
  } catch { /* some filesystems refuse fsync on a directory; the rename is still atomic */ }
}
