/**
 * Coalesces a burst of registry changes into one flush: the first change of a burst starts
 * a `delayMs` window; changes within it join the same flush, so a burst becomes one push per
 * resource. While reads triggered by the burst are still in flight (`busy`), the flush waits
 * for them, up to `maxDelayMs` after the first change: the delay is always bounded.
 *
 * One flush runs at a time; keys marked meanwhile go into the next one. A key keeps the time
 * it was first marked until a flush takes it, and a flush that fails hands its keys back with
 * that time, so the lag (oldest unpushed change) is honest across retries.
 */

export interface CoalescerOptions {
  delayMs: number
  maxDelayMs: number
  /** True while reads that will mark more keys are outstanding. */
  busy (): boolean
  /** Push these keys (key -> time first marked). Must not throw. */
  flush (keys: Map<string, number>): Promise<void>
}

export class Coalescer {
  readonly #o: CoalescerOptions
  #dirty = new Map<string, number>()
  #inflight = new Map<string, number>()
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  /** Earliest time the next flush may start (retry back-off). */
  #notBefore = 0
  #closed = false

  constructor (o: CoalescerOptions) { this.#o = o }

  /** Mark keys changed at `at` (default now); `notBefore` delays the flush (back-off). */
  mark (keys: Iterable<string>, at = Date.now(), notBefore = 0): void {
    if (this.#closed) return
    for (const k of keys) {
      const cur = this.#dirty.get(k)
      if (cur === undefined || at < cur) this.#dirty.set(k, at)
    }
    if (notBefore > this.#notBefore) this.#notBefore = notBefore
    this.#schedule()
  }

  /** Time of the oldest change not yet pushed (dirty or in flight), or null. */
  oldest (): number | null {
    let o: number | null = null
    for (const t of this.#dirty.values()) if (o === null || t < o) o = t
    for (const t of this.#inflight.values()) if (o === null || t < o) o = t
    return o
  }

  get pending (): number { return this.#dirty.size + this.#inflight.size }

  /** Stop scheduling; resolves when a running flush ends. */
  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null }
    await this.#running
  }

  #schedule (): void {
    if (this.#timer !== null || this.#running !== null || this.#dirty.size === 0 || this.#closed) return
    let first = Infinity
    for (const t of this.#dirty.values()) if (t < first) first = t
    const at = Math.max(first + this.#o.delayMs, this.#notBefore)
    this.#arm(Math.max(0, at - Date.now()), first)
  }

  #arm (ms: number, first: number): void {
    this.#timer = setTimeout(() => { this.#timer = null; this.#fire(first) }, ms)
  }

  #fire (first: number): void {
    if (this.#closed) return
    const now = Date.now()
    if (this.#o.busy() && now < first + this.#o.maxDelayMs) {
      this.#arm(Math.min(25, first + this.#o.maxDelayMs - now), first)
      return
    }
    const keys = this.#dirty
    this.#dirty = new Map()
    this.#inflight = keys
    this.#notBefore = 0
    this.#running = this.#o.flush(keys).finally(() => {
      this.#inflight = new Map()
      this.#running = null
      this.#schedule()
    })
  }
}

/** Exponential back-off with jitter: base, x2 per failure, capped. */
export class Backoff {
  #failures = 0
  constructor (readonly baseMs: number, readonly maxMs: number) {}

  /** Record a failure; returns the delay before the next try. */
  fail (): number {
    this.#failures++
    const d = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.#failures - 1, 20))
    return Math.round(d * (0.8 + Math.random() * 0.4))
  }

  reset (): void { this.#failures = 0 }
  get failures (): number { return this.#failures }
}
