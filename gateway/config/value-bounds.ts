/**
 * Bounds on the shape of untrusted documents (config files, admin bodies) beyond their byte
 * size: nesting depth (recursive code such as JSON.stringify overflows the stack on a deep
 * enough value) and, for YAML, the number of nodes after aliases are expanded. The config
 * schema never needs more than a dozen levels; free-form parts (a filter's `config`) get the
 * rest.
 */
import { IsthmusError } from '../errors.js'

export interface ValueBounds {
  readonly maxDepth: number
  readonly maxNodes: number
}

/** Largest config file `isthmus start -c` reads (checked before parsing). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024
/** Config files: at most 64 levels and 1,000,000 values once YAML aliases are expanded. */
export const CONFIG_BOUNDS: ValueBounds = Object.freeze({ maxDepth: 64, maxNodes: 1_000_000 })
/** Admin bodies: at most 64 levels (their size is bounded by `maxBodyBytes`). */
export const JSON_BODY_BOUNDS: ValueBounds = Object.freeze({ maxDepth: 64, maxNodes: Number.MAX_SAFE_INTEGER })

/** Throw ISTH_ERR_CONFIG_INVALID when `value` nests deeper or holds more values than `b`. */
export function checkValueBounds (value: unknown, b: ValueBounds, what: string): void {
  // Iterative (an explicit stack): the walk itself must not overflow on what it refuses.
  const stack: unknown[] = [value]
  const depths: number[] = [1]
  let nodes = 0
  while (stack.length > 0) {
    const v = stack.pop()
    const d = depths.pop()!
    if (++nodes > b.maxNodes) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/: ${what} holds more than ${b.maxNodes} values (YAML aliases expanded)`, '/')
    if (v === null || typeof v !== 'object') continue
    if (d > b.maxDepth) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/: ${what} nests deeper than ${b.maxDepth} levels`, '/')
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) { stack.push(v[i]); depths.push(d + 1) }
    } else {
      for (const k in v as Record<string, unknown>) { stack.push((v as Record<string, unknown>)[k]); depths.push(d + 1) }
    }
  }
}

/**
 * Nesting depth of a JSON text, without parsing it (brackets outside strings): refuse a deep
 * body before JSON.parse builds it. Linear in bytes, no allocation.
 */
export function jsonDepthExceeds (buf: Uint8Array, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped byte
      else if (c === 0x22) inString = false
      continue
    }
    if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) { if (++depth > maxDepth) return true } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}
