/**
 * Base options (the config file) + admin resources -> the effective GatewayOptions that get
 * compiled into a Snapshot. Pure: the same inputs give the same options on every replica.
 */
import type { ClusterOptions, FilterEntryOptions, GatewayOptions, LdcOptions, PoliciesOptions, RouteOptions } from '../gateway/config/options.js'
import { AppAssembler, servicePushesByApp } from './discovery/assemble.js'
import type { AppPushOptions, ServicePushOptions } from './discovery/model.js'
import type { Slicer } from './slicer.js'
import type { ResourceEntry } from './state-file.js'

/** Resource keys: `cluster/<name>`, `app/<app>`, `service/<service>`, `filter/<name>`,
 *  and the singletons `routes`, `ldc`, `policies`. */
export type ResourceKind = 'cluster' | 'app' | 'service' | 'filter' | 'routes' | 'ldc' | 'policies'

export function resourceKey (kind: ResourceKind, name?: string): string {
  return name === undefined ? kind : `${kind}/${name}`
}

export function parseKey (key: string): { kind: ResourceKind, name: string } {
  const i = key.indexOf('/')
  if (i < 0) return { kind: key as ResourceKind, name: '' }
  return { kind: key.slice(0, i) as ResourceKind, name: key.slice(i + 1) }
}

export interface FilterOverride { config?: Record<string, unknown>, enabled?: boolean }

export interface Effective {
  options: GatewayOptions
  /** Which cluster names come from discovery (for GET /v1/clusters). */
  discovered: ReadonlySet<string>
  /** Auto-routes appended after the explicit ones. */
  discoveredRoutes: number
}

export async function buildEffective (base: Readonly<GatewayOptions>, resources: ReadonlyMap<string, ResourceEntry>): Promise<Effective> {
  return await new EffectiveBuilder(base).build(resources)
}

/**
 * buildEffective with memory: each app's discovery assembly is kept (AppAssembler) and
 * reused when its inputs are the same objects, or spliced when only its instances changed, so
 * a one-host delta does not re-derive every app. Unchanged clusters, routes and filter
 * entries stay the same objects, which is what lets compileSnapshot reuse their compiled
 * parts. The result always equals a fresh buildEffective of the same inputs.
 */
export class EffectiveBuilder {
  readonly #base: Readonly<GatewayOptions>
  #apps = new Map<string, AppAssembler>()
  readonly #filters = new WeakMap<FilterOverride, Map<FilterEntryOptions, FilterEntryOptions>>()

  constructor (base: Readonly<GatewayOptions>) { this.#base = base }

  /** @param slicer yields between slices of a big assembly (see admin/slicer.ts). */
  async build (resources: ReadonlyMap<string, ResourceEntry>, slicer?: Slicer): Promise<Effective> {
    const base = this.#base
    const clusterOverrides = new Map<string, ClusterOptions | null>()
    const apps = new Map<string, AppPushOptions>()
    const services = new Map<string, ServicePushOptions>()
    const filterOverrides = new Map<string, FilterOverride>()
    let routes: RouteOptions[] | undefined
    let ldc: LdcOptions | null | undefined
    let policies: PoliciesOptions | null | undefined
    for (const [key, e] of resources) {
      const { kind, name } = parseKey(key)
      switch (kind) {
        case 'cluster': clusterOverrides.set(name, e.value as ClusterOptions | null); break
        case 'app': if (e.value !== null) apps.set(name, e.value as AppPushOptions); break
        case 'service': if (e.value !== null) services.set(name, e.value as ServicePushOptions); break
        case 'filter': if (e.value !== null) filterOverrides.set(name, e.value as FilterOverride); break
        case 'routes': routes = e.value === null ? undefined : (e.value as RouteOptions[]); break
        case 'ldc': ldc = e.value as LdcOptions | null; break
        case 'policies': policies = e.value as PoliciesOptions | null; break
      }
    }

    const clusters: ClusterOptions[] = []
    const seen = new Set<string>()
    for (const c of base.clusters) {
      seen.add(c.name)
      const o = clusterOverrides.get(c.name)
      if (o === null) continue
      clusters.push(o ?? c)
    }
    for (const [name, c] of clusterOverrides) if (!seen.has(name) && c !== null) clusters.push(c)

    const discovered = new Set<string>()
    const discoveredRoutes: RouteOptions[] = []
    const assemblers = new Map<string, AppAssembler>()
    if (apps.size > 0 || services.size > 0) {
      const templates = new Map<string, ClusterOptions>()
      for (const c of clusters) templates.set(c.name, c)
      const byApp = servicePushesByApp(services)
      const index = new Map<string, number>()
      clusters.forEach((c, i) => index.set(c.name, i))
      for (const app of [...new Set([...apps.keys(), ...byApp.keys()])].sort()) {
        const a = this.#apps.get(app) ?? new AppAssembler(app)
        assemblers.set(app, a)
        const d = await a.assemble(apps.get(app), byApp.get(app) ?? [], templates, slicer)
        for (const c of d.clusters) {
          discovered.add(c.name)
          const i = index.get(c.name)
          if (i === undefined) clusters.push(c); else clusters[i] = c
        }
        for (const r of d.routes) discoveredRoutes.push(r)
      }
    }
    // Apps no longer pushed are forgotten.
    this.#apps = assemblers

    const filters: FilterEntryOptions[] = base.filters.map(f => {
      const o = filterOverrides.get(f.name)
      if (o === undefined) return f
      // The same override keeps the same merged entry object.
      let byEntry = this.#filters.get(o)
      if (byEntry === undefined) { byEntry = new Map(); this.#filters.set(o, byEntry) }
      let merged = byEntry.get(f)
      if (merged === undefined) {
        merged = { ...f }
        if (o.config !== undefined) merged.config = o.config
        if (o.enabled !== undefined) merged.enabled = o.enabled
        byEntry.set(f, merged)
      }
      return merged
    })

    const options: GatewayOptions = {
      ...base,
      clusters,
      routes: [...(routes ?? base.routes), ...discoveredRoutes],
      filters,
    }
    const l = ldc === undefined ? base.ldc : ldc ?? undefined
    if (l === undefined) delete options.ldc; else options.ldc = l
    const p = policies === undefined ? base.policies : policies ?? undefined
    if (p === undefined) delete options.policies; else options.policies = p
    return { options, discovered, discoveredRoutes: discoveredRoutes.length }
  }
}
