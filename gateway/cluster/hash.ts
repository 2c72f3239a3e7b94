/** 32-bit FNV-1a over a string's UTF-16 code units: cheap, stable across processes. */
export function fnv1a (s: string, seed = 0x811c9dc5): number {
  return fnv1aFinish(fnv1aState(s, seed))
}

/** The FNV-1a state after `s` (and one more code unit, when given), before the final mix:
 *  continue it with more units, then fnv1aFinish. */
export function fnv1aState (s: string, seed = 0x811c9dc5, extra?: number): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  if (extra !== undefined) h = Math.imul(h ^ extra, 0x01000193)
  return h
}

/** Final avalanche (murmur3 fmix32) so nearby keys spread over the ring. */
export function fnv1aFinish (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
