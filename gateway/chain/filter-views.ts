/**
 * Read-only views a filter publishes for the admin API (the `mirror` filter's mismatch
 * samples at `GET /v1/mirror/mismatches`): a name and a function returning JSON-able data,
 * called per admin request. Process-wide; the last publisher of a name wins. The core serves
 * a view without knowing the filter behind it.
 */
const views = new Map<string, () => unknown>()

export function publishView (name: string, read: () => unknown): void {
  views.set(name, read)
}

/** The view's current data, or undefined when nothing published that name. */
export function readView (name: string): unknown {
  const read = views.get(name)
  return read === undefined ? undefined : read()
}
