/** Element-wise identity of two arrays (the same objects in the same order). */
export function sameItems<T> (a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  const n = notedSplice(a, b)
  if (n !== undefined) return n.removed === 0 && n.inserted === 0
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** One splice turning `a` into `b`: common prefix and suffix by identity. */
export interface Splice { at: number, removed: number, inserted: number }

/**
 * Splices noted by whoever built an array from another (admin/effective.ts splices one app's
 * entries into 4,000 clusters / 20,000 routes): spliceOf and sameItems then answer without
 * scanning both arrays. Weak: a noted array dies with its snapshot.
 */
const noted = new WeakMap<readonly unknown[], { from: readonly unknown[], splice: Splice }>()

/** `to` is `from` with `splice` applied, and nothing else changed. */
export function noteSplice<T> (from: readonly T[], to: readonly T[], splice: Splice): void {
  noted.set(to, { from, splice: Object.freeze({ ...splice }) })
}

/** The splice noted for `b` from `a`, if any. */
export function notedSplice<T> (a: readonly T[], b: readonly T[]): Splice | undefined {
  const n = noted.get(b)
  return n !== undefined && n.from === a ? n.splice : undefined
}

export function spliceOf<T> (a: readonly T[], b: readonly T[]): Splice {
  const n = notedSplice(a, b)
  if (n !== undefined) return n
  const min = Math.min(a.length, b.length)
  let at = 0
  while (at < min && a[at] === b[at]) at++
  let tail = 0
  while (tail < min - at && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++
  return { at, removed: a.length - at - tail, inserted: b.length - at - tail }
}
