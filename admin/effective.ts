/**
 * Base options (the config file) + admin resources -> the effective GatewayOptions that get
 * compiled into a Snapshot. Pure: the same inputs give the same options on every replica.
 */
import type { ClusterOptions, FilterEntryOptions, GatewayOptions, LdcOptions, PoliciesOptions, RouteOptions } from '../gateway/config/options.js'
import { assembleDiscovery } from './discovery/assemble.js'
import type { AppPushOptions, ServicePushOptions } from './discovery/model.js'
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

export function buildEffective (base: Readonly<GatewayOptions>, resources: ReadonlyMap<string, ResourceEntry>): Effective {
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
  let discoveredRoutes: RouteOptions[] = []
  if (apps.size > 0 || services.size > 0) {
    const templates = new Map<string, ClusterOptions>()
    for (const c of clusters) templates.set(c.name, c)
    const d = assembleDiscovery(apps, services, templates)
    const index = new Map<string, number>()
    clusters.forEach((c, i) => index.set(c.name, i))
    for (const c of d.clusters) {
      discovered.add(c.name)
      const i = index.get(c.name)
      if (i === undefined) clusters.push(c); else clusters[i] = c
    }
    discoveredRoutes = d.routes
  }

  const filters: FilterEntryOptions[] = base.filters.map(f => {
    const o = filterOverrides.get(f.name)
    if (o === undefined) return f
    const merged: FilterEntryOptions = { ...f }
    if (o.config !== undefined) merged.config = o.config
    if (o.enabled !== undefined) merged.enabled = o.enabled
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
