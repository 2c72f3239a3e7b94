/** Element-wise identity of two arrays (the same objects in the same order). */
export function sameItems<T> (a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** One splice turning `a` into `b`: common prefix and suffix by identity. */
export interface Splice { at: number, removed: number, inserted: number }

export function spliceOf<T> (a: readonly T[], b: readonly T[]): Splice {
  const min = Math.min(a.length, b.length)
  let at = 0
  while (at < min && a[at] === b[at]) at++
  let tail = 0
  while (tail < min - at && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++
  return { at, removed: a.length - at - tail, inserted: b.length - at - tail }
}
