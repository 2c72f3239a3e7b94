import { performance } from 'node:perf_hooks'

/** A connection-level deadline holder visited by the sweep. */
export interface Sweepable {
  /**
   * Check deadlines at `now`. false takes the item out of the sweep; true asks for a look on
   * the next tick; a number asks for the next look at that time (performance.now() ms), which
   * must be no later than the item's earliest deadline. An item whose deadline moves earlier
   * than the look it asked for (an event) calls `add` again.
   */
  sweep (now: number): boolean | number
  /** The sweep's own: the bucket the item is in (-1 or absent: not in the sweep). A field on
   *  the item rather than a map beside it (a map entry per connection is ~30 bytes of heap). */
  sweepSlot?: number
}

/**
 * One coarse interval per listener for every connection-level bound (first byte, first
 * stream, idle, GOAWAY grace, buffered bytes): a timer per socket would cost a timer object
 * and a refresh per event. Items sit in buckets by the time of their next look (one bucket per
 * tick), so a tick visits only what may have expired: 15,000 idle sessions whose idle bound is
 * minutes away cost nothing per tick (a scan of every item each second was most of an idle
 * gateway's JavaScript). The interval runs only while something is in the sweep, and never
 * keeps the process alive.
 */
export class ConnSweep {
  /** Items in the sweep. */
  #size = 0
  /** Items by tick number: tick n looks at time n * intervalMs. */
  readonly #slots = new Map<number, Set<Sweepable>>()
  readonly #intervalMs: number
  readonly #onError: (err: unknown) => void
  /** The last tick number visited. */
  #done: number
  #timer: NodeJS.Timeout | null = null

  constructor (intervalMs: number, onError: (err: unknown) => void) {
    this.#intervalMs = intervalMs
    this.#onError = onError
    this.#done = Math.floor(performance.now() / intervalMs)
  }

  /** Tick length for bounds as short as `shortestMs`: a quarter of it, within [20 ms, 1 s]. */
  static intervalFor (shortestMs: number): number {
    return Math.max(20, Math.min(1000, Math.floor(shortestMs / 4)))
  }

  get size (): number { return this.#size }

  /** Look at `item` on the next tick (again, if it is already in: its deadline moved earlier). */
  add (item: Sweepable): void {
    if (this.#timer === null) {
      this.#done = Math.floor(performance.now() / this.#intervalMs)
      this.#timer = setInterval(onTick, this.#intervalMs, this)
      this.#timer.unref()
    }
    this.#unslot(item)
    this.#slot(item, this.#done + 1)
  }

  delete (item: Sweepable): void {
    this.#unslot(item)
  }

  stop (): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
    for (const b of this.#slots.values()) for (const item of b) item.sweepSlot = -1
    this.#slots.clear()
    this.#size = 0
  }

  #slot (item: Sweepable, n: number): void {
    let b = this.#slots.get(n)
    if (b === undefined) { b = new Set(); this.#slots.set(n, b) }
    b.add(item)
    item.sweepSlot = n
    this.#size++
  }

  #unslot (item: Sweepable): void {
    const n = item.sweepSlot
    if (n === undefined || n < 0) return
    item.sweepSlot = -1
    this.#size--
    const b = this.#slots.get(n)
    if (b !== undefined && b.delete(item) && b.size === 0) this.#slots.delete(n)
  }

  static tick (s: ConnSweep): void {
    const now = performance.now()
    const last = Math.floor(now / s.#intervalMs)
    // Usually one bucket; more when the loop was blocked past a tick.
    for (let n = s.#done + 1; n <= last; n++) {
      s.#done = n
      const b = s.#slots.get(n)
      if (b === undefined) continue
      s.#slots.delete(n)
      for (const item of b) {
        item.sweepSlot = -1
        s.#size--
        let next: boolean | number = false
        try { next = item.sweep(now) } catch (err) { s.#onError(err) } // a broken item leaves the sweep, never the process
        if (next === false || (item.sweepSlot ?? -1) >= 0) continue // gone, or it asked for the next tick itself (add)
        // Never into a bucket already visited (or this one): at the latest on the next tick.
        const at = next === true ? last + 1 : Math.max(last + 1, Math.floor(next / s.#intervalMs))
        s.#slot(item, at)
      }
    }
    if (s.#size === 0 && s.#timer !== null) { clearInterval(s.#timer); s.#timer = null }
  }
}

function onTick (s: ConnSweep): void { ConnSweep.tick(s) }
