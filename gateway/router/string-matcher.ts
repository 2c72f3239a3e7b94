import type { StringMatch } from '../config/options.js'

/** A compiled string predicate; null means "matches anything". */
export type StringMatcher = ((value: string) => boolean) | null

export function compileStringMatch (m: StringMatch | undefined): StringMatcher {
  if (m === undefined) return null
  if (typeof m === 'string') {
    if (m === '*') return null
    if (m.endsWith('*')) { const p = m.slice(0, -1); return v => v.startsWith(p) }
    return v => v === m
  }
  if (m.exact !== undefined) { const e = m.exact; return v => v === e }
  if (m.prefix !== undefined) { const p = m.prefix; return v => v.startsWith(p) }
  if (m.regex !== undefined) { const re = new RegExp(`^(?:${m.regex})$`); return v => re.test(v) }
  return null
}

/** The exact value a match requires, if it is a plain exact match (for indexing). */
export function exactValue (m: StringMatch | undefined): string | undefined {
  if (m === undefined) return undefined
  if (typeof m === 'string') return m === '*' || m.endsWith('*') ? undefined : m
  return m.exact
}
