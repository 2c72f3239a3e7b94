/**
 * Config history kept by the admin store: the last N accepted changes (a write, a remote
 * change from Redis, a config reload), each with the store generation it produced, when, who,
 * and the values of the resources it changed before and after. Values are the store's own
 * immutable objects (kept by reference, not copied), so a record costs a few pointers; the
 * ring is bounded by `max`. A diff between two kept generations is rebuilt from the records
 * in between (admin/console/diff.ts renders it).
 */

/** One resource a change touched: its value before (undefined: absent) and after (null: deleted). */
export interface HistoryChange {
  readonly key: string
  readonly revisionBefore: number | null
  readonly revisionAfter: number | null
  readonly before: unknown
  readonly after: unknown
}

export interface HistoryRecord {
  /** The store generation this change produced (1: the gateway started). */
  readonly generation: number
  /** Epoch ms. */
  readonly at: number
  /** Who made it: `token`, `cert <identity>`, `loopback`, `redis <node>`, `config reload`, `start`. */
  readonly who: string
  readonly changes: readonly HistoryChange[]
}

/** What the console and GET /v1/revisions list (no values). */
export interface HistorySummary {
  generation: number
  at: string
  who: string
  keys: string[]
}

export const DEFAULT_HISTORY_RECORDS = 50
/** History key of a config reload's change (the file's options as a whole). */
export const CONFIG_FILE_KEY = 'config file'
/** Keys one summary lists (a reconciliation can touch thousands). */
const MAX_SUMMARY_KEYS = 20

export class ConfigHistory {
  readonly max: number
  readonly #records: HistoryRecord[] = []

  constructor (max = DEFAULT_HISTORY_RECORDS) {
    this.max = Math.max(2, max)
  }

  record (r: HistoryRecord): void {
    this.#records.push(r)
    if (this.#records.length > this.max) this.#records.splice(0, this.#records.length - this.max)
  }

  /** Newest first. */
  list (): HistorySummary[] {
    const out: HistorySummary[] = []
    for (let i = this.#records.length - 1; i >= 0; i--) {
      const r = this.#records[i]
      const keys = r.changes.slice(0, MAX_SUMMARY_KEYS).map(c => c.key)
      if (r.changes.length > MAX_SUMMARY_KEYS) keys.push(`… ${r.changes.length - MAX_SUMMARY_KEYS} more`)
      out.push({ generation: r.generation, at: new Date(r.at).toISOString(), who: r.who, keys })
    }
    return out
  }

  get latest (): HistoryRecord | undefined { return this.#records[this.#records.length - 1] }

  /** Oldest generation a diff can start from (the state before the oldest kept change). */
  get oldestBase (): number {
    const first = this.#records[0]
    return first === undefined ? 0 : first.changes.length === 0 ? first.generation : first.generation - 1
  }

  /**
   * The resources that differ between generation `from` and generation `to` (from < to):
   * for each key, its value after `from` (the `before` of the first later change to it) and
   * its value at `to` (the `after` of the last change up to `to`). Null when `from` is older
   * than the kept window or either generation is unknown.
   */
  between (from: number, to: number): HistoryChange[] | null {
    if (!(from < to) || from < this.oldestBase) return null
    if (!this.#records.some(r => r.generation === to)) return null
    if (from !== this.oldestBase && !this.#records.some(r => r.generation === from)) return null
    const acc = new Map<string, { key: string, revisionBefore: number | null, revisionAfter: number | null, before: unknown, after: unknown }>()
    for (const r of this.#records) {
      if (r.generation <= from || r.generation > to) continue
      for (const c of r.changes) {
        const hit = acc.get(c.key)
        if (hit === undefined) acc.set(c.key, { ...c })
        else { hit.after = c.after; hit.revisionAfter = c.revisionAfter }
      }
    }
    return [...acc.values()].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  }
}
