/**
 * A readable diff between two config generations: per changed resource, a unified diff of its
 * pretty-printed JSON (secrets redacted as in GET /v1/config), 3 lines of context. Built with
 * jsdiff (`diff`) on request only; bounded so a huge resource cannot stall the admin thread.
 */
import { structuredPatch } from 'diff'
import type { GatewayOptions } from '../../gateway/config/options.js'
import { redactOptions, redactValue } from '../redact.js'
import { CONFIG_FILE_KEY, type HistoryChange } from './history.js'

export interface DiffHunk {
  /** `@@ -a,b +c,d @@` */
  header: string
  /** Each line starts with ' ', '+' or '-'. */
  lines: string[]
}

export interface ResourceDiff {
  key: string
  revisionBefore: number | null
  revisionAfter: number | null
  /** added / removed / changed; `tooLarge`: over the bounds, not diffed. */
  kind: 'added' | 'removed' | 'changed' | 'tooLarge'
  hunks: DiffHunk[]
}

/** Past this many edits (Myers' edit distance) a resource is reported, not diffed. */
const MAX_EDIT_LENGTH = 4000
/** Characters of pretty JSON one side may have. */
const MAX_TEXT_CHARS = 2_000_000

function pretty (key: string, v: unknown): string {
  if (v === null || v === undefined) return ''
  const safe = key === CONFIG_FILE_KEY ? redactOptions(v as GatewayOptions) : redactValue(v)
  return JSON.stringify(safe, null, 2) + '\n'
}

export function renderDiff (changes: readonly HistoryChange[]): ResourceDiff[] {
  const out: ResourceDiff[] = []
  for (const c of changes) {
    const a = pretty(c.key, c.before)
    const b = pretty(c.key, c.after)
    if (a === b) continue
    const kind = a === '' ? 'added' : b === '' ? 'removed' : 'changed'
    const base = { key: c.key, revisionBefore: c.revisionBefore, revisionAfter: c.revisionAfter }
    if (a.length > MAX_TEXT_CHARS || b.length > MAX_TEXT_CHARS) { out.push({ ...base, kind: 'tooLarge', hunks: [] }); continue }
    const patch = structuredPatch(c.key, c.key, a, b, undefined, undefined, { context: 3, maxEditLength: MAX_EDIT_LENGTH })
    if (patch === undefined) { out.push({ ...base, kind: 'tooLarge', hunks: [] }); continue }
    out.push({
      ...base,
      kind,
      hunks: patch.hunks.map(h => ({ header: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, lines: h.lines })),
    })
  }
  return out
}
