/**
 * Self size and count per (node type, constructor / closure name) of a V8 heap snapshot, and
 * the difference between two: what N more connections retained, per connection.
 * Used by bench/conn-heap-snapshot.ts.
 */
import { readFileSync } from 'node:fs'

export interface Group { count: number, bytes: number }

interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Key: `type name` (strings, numbers and code grouped by type alone: their names are their contents). */
export function groups (file: string): Map<string, Group> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const f = s.snapshot.meta.node_fields
  const stride = f.length
  const [iType, iName, iSize] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')]
  const types = s.snapshot.meta.node_types[0]
  const out = new Map<string, Group>()
  for (let i = 0; i < s.nodes.length; i += stride) {
    const type = types[s.nodes[i + iType]]
    const byTypeOnly = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'code' || type === 'regexp'
    const key = byTypeOnly ? `(${type})` : `${type} ${s.strings[s.nodes[i + iName]]}`
    const g = out.get(key)
    if (g === undefined) out.set(key, { count: 1, bytes: s.nodes[i + iSize] })
    else { g.count++; g.bytes += s.nodes[i + iSize] }
  }
  return out
}

/** after - before per group, divided by `n`, largest first; groups under `minBytes` per connection left out. */
export function diff (before: Map<string, Group>, after: Map<string, Group>, n: number, minBytes = 2): Array<{ key: string, count: number, bytes: number }> {
  const rows: Array<{ key: string, count: number, bytes: number }> = []
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    const bytes = (a.bytes - b.bytes) / n
    if (Math.abs(bytes) >= minBytes) rows.push({ key, count: (a.count - b.count) / n, bytes })
  }
  return rows.sort((x, y) => y.bytes - x.bytes)
}
