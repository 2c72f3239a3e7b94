/** Read the records of an audit directory (every segment, in order). */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export type AuditLine = Record<string, any>

export function auditLines (dir: string): AuditLine[] {
  if (!existsSync(dir)) return []
  const out: AuditLine[] = []
  for (const n of readdirSync(dir).filter(n => /^audit-\d+\.ndjson$/.test(n)).sort()) {
    for (const l of readFileSync(join(dir, n), 'utf8').split('\n')) if (l !== '') out.push(JSON.parse(l) as AuditLine)
  }
  return out
}

export function records (dir: string): AuditLine[] { return auditLines(dir).filter(l => l.k === 'rec') }

/** Every byte of every file in the directory, for "never in the trail" checks. */
export function allText (dir: string): string {
  if (!existsSync(dir)) return ''
  return readdirSync(dir).map(n => readFileSync(join(dir, n), 'utf8')).join('\n')
}

export async function until (pred: () => boolean, ms = 20000, what?: () => string): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting${what === undefined ? '' : `: ${what()}`}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
