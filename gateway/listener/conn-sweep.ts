import { performance } from 'node:perf_hooks'

/** A connection-level deadline holder visited by the sweep. */
export interface Sweepable {
  /** Check deadlines at `now`; false takes the item out of the sweep. */
  sweep (now: number): boolean
}

/**
 * One coarse interval per listener for every connection-level bound (first byte, first
 * stream, idle, GOAWAY grace, buffered bytes): a timer per socket would cost a timer object
 * and a refresh per event; this costs a Set add/delete per connection and one scan per tick.
 * The interval runs only while something is in the set, and never keeps the process alive.
 */
export class ConnSweep {
  readonly #items = new Set<Sweepable>()
  readonly #intervalMs: number
  readonly #onError: (err: unknown) => void
  #timer: NodeJS.Timeout | null = null

  constructor (intervalMs: number, onError: (err: unknown) => void) {
    this.#intervalMs = intervalMs
    this.#onError = onError
  }

  /** Tick length for bounds as short as `shortestMs`: a quarter of it, within [20 ms, 1 s]. */
  static intervalFor (shortestMs: number): number {
    return Math.max(20, Math.min(1000, Math.floor(shortestMs / 4)))
  }

  get size (): number { return this.#items.size }

  add (item: Sweepable): void {
    this.#items.add(item)
    if (this.#timer === null) {
      this.#timer = setInterval(onTick, this.#intervalMs, this)
      this.#timer.unref()
    }
  }

  delete (item: Sweepable): void {
    this.#items.delete(item)
  }

  stop (): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
    this.#items.clear()
  }

  static tick (s: ConnSweep): void {
    const now = performance.now()
    for (const item of s.#items) {
      let keep = false
      try { keep = item.sweep(now) } catch (err) { s.#onError(err) } // a broken item leaves the sweep, never the process
      if (!keep) s.#items.delete(item)
    }
    if (s.#items.size === 0 && s.#timer !== null) { clearInterval(s.#timer); s.#timer = null }
  }
}

function onTick (s: ConnSweep): void { ConnSweep.tick(s) }
