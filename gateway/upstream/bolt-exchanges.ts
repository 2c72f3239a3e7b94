/**
 * The requests in flight on one upstream Bolt connection, by gateway-side request id, with
 * their deadlines. Ids are handed out in sequence, so a slot array indexed by `id & mask`
 * almost never collides: add/take are two array writes, where two Maps (exchange, deadline)
 * cost a hash insert and a delete each per request. The array doubles while it is over
 * half full; an id whose slot an older request still holds (one slow request among many
 * fast ones) goes to a small Map beside it.
 */
export class BoltExchanges<T> {
  #mask: number
  #items: Array<T | null>
  #ids: Float64Array
  #deadlines: Float64Array
  #spill: Map<number, Spilled<T>> | null = null
  size = 0

  constructor (initial = INITIAL) {
    this.#mask = initial - 1
    this.#items = new Array<T | null>(initial).fill(null)
    this.#ids = new Float64Array(initial)
    this.#deadlines = new Float64Array(initial)
  }

  /** Track `item` under `id` (not already tracked) until `deadline` (absolute ms; Infinity: none). */
  add (id: number, item: T, deadline: number): void {
    if ((this.size + 1) * 2 > this.#items.length && this.#items.length < MAX_SLOTS) this.#grow()
    this.size++
    this.#place(id, item, deadline)
  }

  #place (id: number, item: T, deadline: number): void {
    const i = id & this.#mask
    if (this.#items[i] === null) {
      this.#items[i] = item
      this.#ids[i] = id
      this.#deadlines[i] = deadline
      return
    }
    (this.#spill ??= new Map()).set(id, { item, deadline })
  }

  /** Stop tracking `id`: its item, or undefined when it was not tracked. */
  take (id: number): T | undefined {
    const i = id & this.#mask
    const it = this.#items[i]
    if (it !== null && this.#ids[i] === id) {
      this.#items[i] = null
      this.size--
      return it
    }
    const sp = this.#spill
    if (sp === null) return undefined
    const s = sp.get(id)
    if (s === undefined) return undefined
    sp.delete(id)
    this.size--
    return s.item
  }

  /**
   * Take every item whose deadline is at or before `now` into `out` (the caller notifies
   * them after: a notification may add or take items); returns the earliest deadline left.
   */
  expire (now: number, out: T[]): number {
    let next = Infinity
    const items = this.#items
    const dl = this.#deadlines
    for (let i = 0; i < items.length; i++) {
      const it = items[i]
      if (it === null) continue
      const d = dl[i]
      if (d <= now) { items[i] = null; this.size--; out.push(it) } else if (d < next) next = d
    }
    const sp = this.#spill
    if (sp !== null) {
      for (const [id, s] of sp) {
        if (s.deadline <= now) { sp.delete(id); this.size--; out.push(s.item) } else if (s.deadline < next) next = s.deadline
      }
    }
    return next
  }

  /** Take every item (the connection closed). */
  takeAll (): T[] {
    const out: T[] = []
    const items = this.#items
    for (let i = 0; i < items.length; i++) {
      const it = items[i]
      if (it !== null) { out.push(it); items[i] = null }
    }
    if (this.#spill !== null) { for (const s of this.#spill.values()) out.push(s.item); this.#spill = null }
    this.size = 0
    return out
  }

  #grow (): void {
    const items = this.#items
    const ids = this.#ids
    const dl = this.#deadlines
    const spill = this.#spill
    const n = items.length * 2
    this.#mask = n - 1
    this.#items = new Array<T | null>(n).fill(null)
    this.#ids = new Float64Array(n)
    this.#deadlines = new Float64Array(n)
    this.#spill = null
    for (let i = 0; i < items.length; i++) {
      const it = items[i]
      if (it !== null) this.#place(ids[i], it, dl[i])
    }
    if (spill !== null) for (const [id, s] of spill) this.#place(id, s.item, s.deadline)
  }
}

interface Spilled<T> { item: T, deadline: number }

const INITIAL = 64
/** Past this many slots (64 K) more requests in flight share slots through the spill Map. */
const MAX_SLOTS = 65536
