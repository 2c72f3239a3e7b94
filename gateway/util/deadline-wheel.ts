import { performance } from 'node:perf_hooks'

export interface HasDeadline { deadline: number }

/**
 * One coarse timer for many deadlines (undici's timers.js idea): calls join a set, a single
 * interval scans it every `resolutionMs`, and the interval stops while the set is empty.
 * A Set add/delete per call is far cheaper than a setTimeout per call.
 */
export class DeadlineWheel<T extends HasDeadline> {
  readonly #items = new Set<T>()
  readonly #onExpire: (item: T) => void
  readonly #resolutionMs: number
  #timer: NodeJS.Timeout | null = null

  constructor (onExpire: (item: T) => void, resolutionMs = 10) {
    this.#onExpire = onExpire
    this.#resolutionMs = resolutionMs
  }

  add (item: T): void {
    if (item.deadline === 0) return
    this.#items.add(item)
    if (this.#timer === null) {
      this.#timer = setInterval(tick, this.#resolutionMs, this as unknown as DeadlineWheel<HasDeadline>)
      this.#timer.unref()
    }
  }

  delete (item: T): void {
    this.#items.delete(item)
  }

  get size (): number { return this.#items.size }

  static tick<T extends HasDeadline> (wheel: DeadlineWheel<T>): void {
    const now = performance.now()
    for (const item of wheel.#items) {
      if (item.deadline <= now) {
        wheel.#items.delete(item)
        wheel.#onExpire(item)
      }
    }
    if (wheel.#items.size === 0 && wheel.#timer !== null) {
      clearInterval(wheel.#timer)
      wheel.#timer = null
    }
  }
}

function tick (wheel: DeadlineWheel<HasDeadline>): void { DeadlineWheel.tick(wheel) }
