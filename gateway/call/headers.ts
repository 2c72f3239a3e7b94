/**
 * Protocol-neutral header access. Triple wraps node's header object (names lower-case);
 * Bolt wraps its header-map view (names as sent). Filters read and write through this,
 * never through the raw protocol object.
 */
export interface CallHeaders {
  get (name: string): string | undefined
  set (name: string, value: string): void
  delete (name: string): void
  /** Every header as [name, value] pairs; allocates, so for logging and tests only. */
  entries (): Array<[string, string]>
}

/** Headers backed by a plain object, used for Triple (node:http2 header objects). */
export class ObjectHeaders implements CallHeaders {
  /** Set when a filter changed something, so the forwarder knows to rebuild. */
  changed = false
  constructor (public readonly raw: Record<string, string | string[] | number | undefined>) {}

  get (name: string): string | undefined {
    const v = this.raw[name]
    if (typeof v === 'string') return v
    if (v === undefined) return undefined
    return Array.isArray(v) ? v.join(', ') : String(v) // `:status` arrives as a number
  }

  set (name: string, value: string): void {
    this.raw[name.toLowerCase()] = value
    this.changed = true
  }

  delete (name: string): void {
    const key = name.toLowerCase()
    if (key in this.raw) { delete this.raw[key]; this.changed = true }
  }

  entries (): Array<[string, string]> {
    const out: Array<[string, string]> = []
    for (const k of Object.keys(this.raw)) {
      const v = this.get(k)
      if (v !== undefined) out.push([k, v])
    }
    return out
  }
}
