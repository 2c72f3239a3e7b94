/** One waiter of a bounded FIFO: the queue stores its position on it, so no node object per wait. */
export interface Waiter {
  /** Absolute position in the queue while waiting, -1 otherwise (set in the waiter's constructor). */
  waitSeq: number
}

/**
 * A bounded FIFO of waiters with their enqueue times. Cancelling leaves a hole that the head
 * skips, so removal is O(1); holes are compacted away as the head passes them.
 */
export class WaitQueue<T extends Waiter> {
  readonly #items: Array<T | null> = []
  readonly #times: number[] = []
  #head = 0
  /** Sequence number of `#items[0]`. */
  #base = 0
  #live = 0

  /** Waiters still waiting. */
  get size (): number { return this.#live }

  push (w: T, now: number): void {
    w.waitSeq = this.#base + this.#items.length
    this.#items.push(w)
    this.#times.push(now)
    this.#live++
  }

  /** Drop a waiter (cancelled, or its call ended). Idempotent. */
  remove (w: T): void {
    const i = w.waitSeq - this.#base
    w.waitSeq = -1
    if (i < this.#head || i >= this.#items.length || this.#items[i] !== w) return
    this.#items[i] = null
    this.#live--
    this.#skipHoles()
  }

  /** The oldest waiter and when it joined, or null. */
  peek (): T | null {
    return this.#head < this.#items.length ? this.#items[this.#head] : null
  }

  peekTime (): number { return this.#times[this.#head] }

  shift (): T | null {
    if (this.#head >= this.#items.length) return null
    const w = this.#items[this.#head]!
    this.#items[this.#head] = null
    this.#head++
    this.#live--
    w.waitSeq = -1
    this.#skipHoles()
    return w
  }

  #skipHoles (): void {
    const items = this.#items
    while (this.#head < items.length && items[this.#head] === null) this.#head++
    if (this.#head === items.length) {
      this.#base += items.length
      items.length = 0
      this.#times.length = 0
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > items.length) {
      items.splice(0, this.#head)
      this.#times.splice(0, this.#head)
      this.#base += this.#head
      this.#head = 0
    }
  }
}
