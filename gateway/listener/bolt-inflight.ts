import type { BoltCall } from '../proxy/bolt-call.js'

/**
 * The calls in flight on one downstream Bolt connection, as an intrusive doubly linked list
 * through BoltCall's `prevOnConn` / `nextOnConn` (no Map, no node object per call): O(1) add
 * and remove, and a walk to cancel them all when the connection goes.
 */
export class InflightCalls {
  #head: BoltCall | null = null
  size = 0

  add (call: BoltCall): void {
    call.listed = true
    call.nextOnConn = this.#head
    if (this.#head !== null) this.#head.prevOnConn = call
    this.#head = call
    this.size++
  }

  /** False when the call was not (or no longer) in the list. */
  remove (call: BoltCall): boolean {
    if (!call.listed) return false
    call.listed = false
    const p = call.prevOnConn
    const n = call.nextOnConn
    if (p === null) this.#head = n; else p.nextOnConn = n
    if (n !== null) n.prevOnConn = p
    call.prevOnConn = null
    call.nextOnConn = null
    this.size--
    return true
  }

  /** Empty the list, then cancel each call (they end without an answer). */
  cancelAll (): void {
    let c = this.#head
    while (c !== null) {
      const next = c.nextOnConn
      this.remove(c)
      c.cancel()
      c = next
    }
  }
}
