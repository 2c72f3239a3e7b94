/**
 * Writing and reading PEM files for the CA and leaf certificates. Keys are written 0600;
 * nothing is overwritten without `force`; each file is written to a temp name and renamed
 * so a watcher (TlsMaterial) never sees half a file.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { IsthmusError } from '../gateway/errors.js'

export interface PemFile {
  readonly path: string
  readonly data: string
  /** Private key: mode 0600. */
  readonly secret: boolean
}

/**
 * Write all files or none: every target is checked first, so a refused overwrite leaves
 * the directory as it was.
 */
export function writePemFiles (files: readonly PemFile[], force: boolean): void {
  if (!force) {
    const existing = files.filter(f => existsSync(f.path)).map(f => f.path)
    if (existing.length > 0) {
      throw new IsthmusError('ISTH_ERR_CERTS', `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''} (use --force to overwrite)`)
    }
  }
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true })
    const tmp = join(dirname(f.path), `.${process.pid}.${Date.now()}.tmp`)
    const mode = f.secret ? 0o600 : 0o644
    writeFileSync(tmp, f.data, { mode })
    chmodSync(tmp, mode) // the umask may have narrowed or the mode may differ from a leftover
    renameSync(tmp, f.path)
  }
}

/** Read a PEM file, with a clear error naming the file and what it was for. */
export function readPem (path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message
    throw new IsthmusError('ISTH_ERR_CERTS', `cannot read ${what} ${path}: ${why}`)
  }
}
