import { performance } from 'node:perf_hooks'

/**
 * One performance.now() per socket read instead of several per request: a read handler
 * brackets its work with `enterRead()` / `leaveRead()`, and everything it runs synchronously
 * (decode, call start, forward, response) reads `now()`, the read's arrival time. Outside a
 * read (timers, a filter's promise resuming) `now()` is performance.now() itself.
 * A pipelining client's read holds ~16 requests, each with ~5 clock reads (profile: the
 * metrics category, mostly `now`). Times inside one read differ by the read's own processing
 * (microseconds), which no bound or metric here resolves.
 */
let cached = 0
let depth = 0

/** performance.now(), or the current read's arrival time inside a read handler. */
export function now (): number {
  return depth > 0 ? cached : performance.now()
}

/** Start of a read handler's work (a nested one takes a fresh time, which then stays). */
export function enterRead (): void {
  cached = performance.now()
  depth++
}

/** End of a read handler's work (call it in `finally`). */
export function leaveRead (): void {
  depth--
}
