/**
 * The top-level `ldc` section (config file or `PUT /v1/ldc`) and the `ldc` filter: the rules a
 * JSON schema cannot say (ranges, zone types, references to clusters), checked when a config
 * loads and on every admin write, and the chain entry the section configures. The core knows
 * the filter by name only (like `policies` and the `policy` filter).
 */
import type { ClusterOptions, FilterEntryOptions, GatewayOptions, LdcOptions, ZoneKind } from './options.js'

/** Name of the chain entry that the top-level `ldc` section configures. */
export const LDC_FILTER = 'ldc'

export interface LdcZone {
  readonly name: string
  readonly type: ZoneKind
  readonly city: string | undefined
  /** Clusters of this zone's gateways, by protocol (wrong-unit forwarding). */
  readonly gateway: Readonly<{ triple?: string, bolt?: string }> | undefined
}

type Fail = (path: string, message: string) => never

/**
 * Every zone the section names, with its type and city. Declared in `zones`, or (without
 * `zones`) inferred: table zones are RZones, `globalZone` is the GZone, any other zone in
 * `cities` is a CZone. `cities` gives (or must agree with) each zone's city.
 */
export function ldcZones (o: LdcOptions, fail: Fail): Map<string, LdcZone> {
  const out = new Map<string, LdcZone>()
  const declared = o.zones
  if (declared !== undefined) {
    for (const [name, z] of Object.entries(declared)) {
      const city = z.city ?? o.cities?.[name]
      if (z.city !== undefined && o.cities?.[name] !== undefined && o.cities[name] !== z.city) {
        fail(`/ldc/cities/${name}`, `says city ${o.cities[name]} but zones.${name}.city is ${z.city}`)
      }
      out.set(name, Object.freeze({ name, type: z.type, city, gateway: z.gateway === undefined ? undefined : Object.freeze({ ...z.gateway }) }))
    }
    for (const name of Object.keys(o.cities ?? {})) if (!out.has(name)) fail(`/ldc/cities/${name}`, `zone ${name} is not in ldc.zones`)
    return out
  }
  const add = (name: string, type: ZoneKind): void => {
    if (!out.has(name)) out.set(name, Object.freeze({ name, type, city: o.cities?.[name], gateway: undefined }))
  }
  for (const row of o.table) add(row.zone, 'rzone')
  if (o.globalZone !== undefined) add(o.globalZone, 'gzone')
  for (const name of Object.keys(o.cities ?? {})) add(name, 'czone')
  return out
}

/** The zones this gateway serves; null: every zone (no forwarding). */
export function localZonesOf (o: LdcOptions): Set<string> | null {
  if (o.localZone === undefined && (o.localZones === undefined || o.localZones.length === 0)) return null
  const s = new Set(o.localZones ?? [])
  if (o.localZone !== undefined) s.add(o.localZone)
  return s
}

/** Semantics of `options.ldc`, with `/ldc/...` paths (the admin rebases them onto the body). */
export function checkLdc (options: Pick<GatewayOptions, 'ldc' | 'clusters'>, fail: Fail): void {
  const o = options.ldc
  if (o === undefined) return
  const digits = o.shard?.digits ?? 2
  const offset = o.shard?.offset ?? 0
  if (digits + offset > (o.uid.maxLength ?? 64)) fail('/ldc/shard', `digits + offset (${digits + offset}) exceed uid.maxLength (${o.uid.maxLength ?? 64})`)
  const shards = 10 ** digits
  const zones = ldcZones(o, fail)
  const owner = new Array<number>(shards).fill(-1)
  o.table.forEach((row, i) => {
    if (row.to < row.from) fail(`/ldc/table/${i}/to`, 'must be >= from')
    if (row.to >= shards) fail(`/ldc/table/${i}/to`, `must be < ${shards} (shard.digits is ${digits})`)
    const z = zones.get(row.zone)
    if (z === undefined) fail(`/ldc/table/${i}/zone`, `zone ${row.zone} is not in ldc.zones`)
    if (z.type !== 'rzone') fail(`/ldc/table/${i}/zone`, `zone ${row.zone} is a ${z.type}; shard ranges map to RZones`)
    for (let s = row.from; s <= row.to; s++) {
      if (owner[s] >= 0) fail(`/ldc/table/${i}`, `shard ${s} is also in table row ${owner[s]}`)
      owner[s] = i
    }
  })
  const known = (path: string, name: string, type?: ZoneKind): void => {
    const z = zones.get(name)
    if (z === undefined) fail(path, `unknown zone ${name}`)
    if (type !== undefined && z.type !== type) fail(path, `zone ${name} is a ${z.type}, not a ${type}`)
  }
  if (o.globalZone !== undefined) known('/ldc/globalZone', o.globalZone, 'gzone')
  if (o.defaultZone !== undefined) known('/ldc/defaultZone', o.defaultZone, 'rzone')
  if (o.localZone !== undefined) known('/ldc/localZone', o.localZone)
  o.localZones?.forEach((z, i) => known(`/ldc/localZones/${i}`, z))
  o.pin?.allow.forEach((z, i) => known(`/ldc/pin/allow/${i}`, z))
  const kinds = new Set(Object.values(o.services ?? {}))
  if (kinds.has('gzone') && o.globalZone === undefined) fail('/ldc/globalZone', 'is required: a service is marked gzone')
  if (kinds.has('czone')) {
    let any = false
    for (const z of zones.values()) {
      if (z.type !== 'czone') continue
      if (z.city === undefined) fail(`/ldc/zones/${z.name}/city`, `CZone ${z.name} needs a city`)
      any = true
    }
    if (!any) fail('/ldc/zones', 'a service is marked czone but no CZone is defined')
  }
  const clusters = new Map<string, ClusterOptions>()
  for (const c of options.clusters) clusters.set(c.name, c)
  for (const z of zones.values()) {
    for (const proto of ['triple', 'bolt'] as const) {
      const name = z.gateway?.[proto]
      if (name === undefined) continue
      const c = clusters.get(name)
      const path = `/ldc/zones/${z.name}/gateway/${proto}`
      if (c === undefined) fail(path, `unknown cluster "${name}"`)
      const speaks = c.protocol === 'http1' ? 'triple' : c.protocol
      if (speaks !== proto) fail(path, `cluster "${name}" speaks ${c.protocol}; ${proto} calls cannot be forwarded there`)
    }
  }
}

/**
 * The chain entry with the top-level `ldc` section applied: the chain's `ldc` entry (a
 * built-in, not a user module) gets the section as its config, over any keys the entry sets
 * itself. Other entries, and every entry when there is no section, are returned as they are.
 * Without an `ldc` entry the section is inert (the filter places LDC routing in the chain).
 */
export function withLdcSection (entry: FilterEntryOptions, ldc: LdcOptions | undefined): FilterEntryOptions {
  if (ldc === undefined || entry.name !== LDC_FILTER || entry.module !== undefined) return entry
  return { ...entry, config: { ...entry.config, ...structuredClone(ldc) as unknown as Record<string, unknown> } }
}
