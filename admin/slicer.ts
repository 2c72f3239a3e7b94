/**
 * Cooperative time slicing for the admin write path. The admin API shares the event loop
 * with the data plane, so a long synchronous step (validating, assembling or compiling a
 * 10,000-instance push) holds every call in flight for its whole length. Steps call
 * `pause()` between pieces of work: once more than `budgetMs` has run since the last yield,
 * it yields a macrotask turn (setImmediate), letting pending I/O (calls) run. Under budget
 * it returns without yielding, so a one-host delta pays nothing.
 */
import { performance } from 'node:perf_hooks'
import { setImmediate as nextTurn } from 'node:timers/promises'

export class Slicer {
  readonly #budgetMs: number
  #since = performance.now()

  constructor (budgetMs = 4) { this.#budgetMs = budgetMs }

  /** True when the budget is spent (callers that cannot await check this first). */
  get due (): boolean { return performance.now() - this.#since > this.#budgetMs }

  async pause (): Promise<void> {
    if (!this.due) return
    await nextTurn()
    this.#since = performance.now()
  }
}
