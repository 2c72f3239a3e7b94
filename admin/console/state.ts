/**
 * What the console shows, as one JSON object built from the live state: listeners, routes
 * with their call rates, clusters and hosts, discovery, config revisions, LDC and the chain's
 * filter counters, the audit filter's recent records. Built once per tick for every watcher
 * (admin/console/events.ts) and for the page's first paint, never per call. A panel whose
 * feature is not configured is absent. Big lists are capped (the counts stay exact) so one state stays small.
 */
import type { Metric } from 'prom-client'
import { downstreamConnections, registry } from '../../gateway/metrics.js'
import type { GatewayOptions, HostOptions, RouteOptions, StringMatch } from '../../gateway/config/options.js'
import type { Host } from '../../gateway/cluster/host.js'
import type { ListenerInfo } from '../server.js'
import type { AdminStore } from '../store.js'
import { auditRecent, type AuditRecentState } from './audit-view.js'
import type { HistorySummary } from './history.js'
import type { RateTracker } from './rates.js'

export interface ConsoleSources {
  listeners (): Record<string, ListenerInfo>
  store: AdminStore | null
  rates: RateTracker
}

export interface HostState {
  id: string
  labels: Record<string, string>
  zone: string
  weight: number
  /** `healthy`, `unhealthy` (active check) or `ejected` (outlier detection). */
  health: 'healthy' | 'unhealthy' | 'ejected'
  /** Outlier ejection: ms left, and the reason when the host state records one. */
  ejectedMsLeft?: number
  ejectReason?: string
  inFlight: number
  /** With service-list sharding: whether this replica's shard holds the host. */
  shard?: 'this replica' | 'other replica'
}

export interface ClusterState { name: string, protocol: string, lb: string, hosts: HostState[], totalHosts: number, shardHosts: number, unavailable: number }
export interface RouteState { name: string, match: string, cluster: string, subset?: string, service: string | null, callsPerSec: number, errorRate: number, total: number, errors: number }
export interface ListenerState { name: string, address: string, tls: boolean, connections: number | null }
export interface AppState { name: string, kind: 'app' | 'service', instances: number, revision: number, pushedAt: string }
export interface CounterState { name: string, labels: Record<string, string>, value: number }

export interface ConsoleState {
  at: string
  generation: number | null
  listeners: ListenerState[]
  routes: RouteState[]
  clusters: ClusterState[]
  discovery: { apps: AppState[], total: number } | null
  revisions: HistorySummary[] | null
  ldc: { localZones: string[], table: Array<{ from: number, to: number, zone: string }>, zones: string[] } | null
  counters: CounterState[]
  /** The audit filter's last records (metadata only); null when audit does not run here. */
  audit: AuditRecentState | null
}

/** Hosts one cluster lists, apps the discovery panel lists, counter series the page gets. */
const MAX_HOSTS = 200
const MAX_APPS = 200
const MAX_COUNTERS = 200

export async function buildState (src: ConsoleSources): Promise<ConsoleState> {
  const store = src.store
  const opts = store?.options
  const snap = store?.snapshot
  const connections = await listenerConnections()
  const listeners: ListenerState[] = Object.entries(src.listeners()).map(([name, l]) => ({
    name, address: `${l.host}:${l.port}`, tls: l.tls, connections: name === 'admin' ? null : (connections.get(name) ?? 0),
  }))

  const routes: RouteState[] = (opts?.routes ?? []).map(r => routeState(r, src.rates))

  const clusters: ClusterState[] = []
  if (opts !== undefined && snap !== undefined) {
    const now = performance.now()
    for (const c of opts.clusters) {
      const live = snap.clusters.get(c.name)
      const hosts: HostState[] = []
      const mine = new Set<string>()
      if (live !== undefined) for (const h of live.hosts) mine.add(h.id)
      const sharded = live !== undefined && live.hosts.length !== live.totalHosts
      let unavailable = 0
      const byId = new Map<string, Host>()
      if (live !== undefined) for (const h of live.hosts) byId.set(h.id, h)
      for (const ho of c.hosts) {
        const id = hostIdOf(ho)
        const h = byId.get(id)
        const st = hostState(id, ho, h, now)
        if (sharded) st.shard = mine.has(id) ? 'this replica' : 'other replica'
        if (st.health !== 'healthy') unavailable++
        if (hosts.length < MAX_HOSTS) hosts.push(st)
      }
      clusters.push({ name: c.name, protocol: c.protocol, lb: c.lb?.policy ?? 'round-robin', hosts, totalHosts: c.hosts.length, shardHosts: live?.hosts.length ?? 0, unavailable })
    }
  }

  let discovery: ConsoleState['discovery'] = null
  if (store !== null) {
    const apps: AppState[] = []
    for (const [key, e] of store.entries()) {
      if (e.value === null || e.value === undefined) continue
      const kind = key.startsWith('app/') ? 'app' : key.startsWith('service/') ? 'service' : null
      if (kind === null) continue
      const v = e.value as { instances?: unknown[], providers?: unknown[] }
      apps.push({ name: key.slice(kind.length + 1), kind, instances: (v.instances ?? v.providers ?? []).length, revision: e.revision, pushedAt: new Date(e.at).toISOString() })
    }
    apps.sort((a, b) => a.pushedAt < b.pushedAt ? 1 : a.pushedAt > b.pushedAt ? -1 : 0)
    discovery = { apps: apps.slice(0, MAX_APPS), total: apps.length }
  }

  const ldcOpts = opts?.ldc
  const ldc = ldcOpts === undefined
    ? null
    : {
        localZones: ldcOpts.localZones ?? (ldcOpts.localZone !== undefined ? [ldcOpts.localZone] : []),
        table: ldcOpts.table.slice(0, 200),
        zones: Object.keys(ldcOpts.zones ?? {}),
      }

  return {
    at: new Date().toISOString(),
    generation: store?.generation ?? null,
    listeners,
    routes,
    clusters,
    discovery,
    revisions: store?.history.list() ?? null,
    ldc,
    counters: await filterCounters(filterPrefixes(opts)),
    audit: auditRecent(),
  }
}

function hostIdOf (h: HostOptions): string {
  return h.address.includes(':') ? `[${h.address}]:${h.port}` : `${h.address}:${h.port}`
}

function hostState (id: string, o: HostOptions, h: Host | undefined, now: number): HostState {
  const st: HostState = { id, labels: { ...(h?.labels ?? o.labels ?? {}) }, zone: h?.zone ?? o.zone ?? '', weight: h?.weight ?? o.weight ?? 1, health: 'healthy', inFlight: h?.active ?? 0 }
  if (h === undefined) return st
  if (h.ejectedUntil > now) {
    st.health = 'ejected'
    st.ejectedMsLeft = Math.ceil(h.ejectedUntil - now)
    // Outlier detection may record why (a field of the host state); shown when it does.
    const reason = (h as unknown as { ejectReason?: unknown }).ejectReason
    if (typeof reason === 'string') st.ejectReason = reason
  } else if (!h.healthy) st.health = 'unhealthy'
  return st
}

function matchText (m: StringMatch | undefined): string | null {
  if (m === undefined) return null
  if (typeof m === 'string') return m
  if (m.exact !== undefined) return m.exact
  if (m.prefix !== undefined) return `${m.prefix}*`
  return `/${m.regex ?? ''}/`
}

function routeState (r: RouteOptions, rates: RateTracker): RouteState {
  const parts: string[] = []
  if (r.match.protocol !== undefined) parts.push(r.match.protocol)
  const svc = matchText(r.match.service)
  if (svc !== null) parts.push(svc)
  const method = matchText(r.match.method)
  if (method !== null) parts.push(`/${method}`)
  if (r.match.version !== undefined) parts.push(`version=${r.match.version}`)
  if (r.match.group !== undefined) parts.push(`group=${r.match.group}`)
  for (const h of r.match.headers ?? []) parts.push(`${h.name}${'exact' in h && h.exact !== undefined ? `=${h.exact}` : ''}`)
  // Call counters are kept per exact service name (gateway/metrics.ts): routes of one service share them.
  const exact = typeof r.match.service === 'string' ? r.match.service : r.match.service?.exact
  const rate = exact === undefined
    ? { callsPerSec: 0, errorRate: 0, total: 0, errors: 0 }
    : rates.rate(exact, r.match.protocol === undefined ? ['triple', 'bolt'] : [r.match.protocol])
  const out: RouteState = { name: r.name, match: parts.join(' ') || '*', cluster: r.cluster, service: exact ?? null, ...rate }
  if (r.subset !== undefined) out.subset = Object.entries(r.subset).map(([k, v]) => `${k}=${v}`).join(',')
  return out
}

async function listenerConnections (): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const v of (await downstreamConnections.get()).values) out.set(String(v.labels.listener), v.value)
  return out
}

/** Metric name prefixes of the configured chain's filters (config/compile.ts names them so). */
function filterPrefixes (opts: Readonly<GatewayOptions> | undefined): string[] {
  if (opts === undefined) return []
  const out = opts.filters.filter(f => f.enabled !== false).map(f => `isthmus_${f.name.replace(/[^a-zA-Z0-9_]/g, '_')}_`)
  if (opts.audit !== undefined) out.push('isthmus_audit_')
  return out
}

/** The chain's filter counters (rate-limit decisions, stress refusals, LDC routing, audit
 *  records…), read as a scrape reads them; a counter with no series yet is not listed. */
async function filterCounters (prefixes: readonly string[]): Promise<CounterState[]> {
  const out: CounterState[] = []
  if (prefixes.length === 0) return out
  // Only the matching counters are collected (not the whole registry, as a scrape would).
  // (getMetricsAsArray's declared type is the plain object; the registry holds the metrics.)
  for (const metric of registry.getMetricsAsArray() as unknown as Metric[]) {
    const name = (metric as unknown as { name: string }).name
    if (!name.endsWith('_total') || !prefixes.some(p => name.startsWith(p))) continue
    const m = await metric.get()
    if (String(m.type) !== 'counter') continue
    for (const v of m.values) {
      if (out.length >= MAX_COUNTERS) return out
      const labels: Record<string, string> = {}
      for (const [k, x] of Object.entries(v.labels)) labels[k] = String(x)
      out.push({ name, labels, value: v.value })
    }
  }
  return out
}
