/**
 * Discovery model -> clusters and routes. One cluster per app and protocol
 * (`<app>:triple`, `<app>:bolt`); every host carries a `service:<key>` label for each service
 * variant it exports, so a service is a label subset of its app's cluster (SubsetIndex
 * bitmaps, cached per selector). One auto-route per exported service sends the service to its
 * app cluster with that subset; auto-routes come after the explicit routes, so an explicit
 * route always wins.
 *
 * An AppAssembler keeps one app's last result: the same inputs return it as is, and an
 * app-level push that differs from the last one by a splice of its `instances` (a one-host
 * delta) is applied to it in O(delta + instances) pointer work, keeping every unchanged
 * HostOptions object, so the compiler can splice the cluster too (config/compile.ts).
 */
import type { ClusterOptions, HostOptions, RouteOptions } from '../../gateway/config/options.js'
import { clusterSchema } from '../../gateway/config/schema.js'
import { compileValidator } from '../../gateway/config/validate.js'
import { sameItems, spliceOf } from '../../gateway/util/arrays.js'
import {
  appClusterName, serviceKey, SERVICE_LABEL_PREFIX,
  type AppPushOptions, type DiscoveryProtocol, type ExportedServiceOptions, type InstanceOptions, type ServicePushOptions,
} from './model.js'
import type { Slicer } from '../slicer.js'

const PROTOCOLS: readonly DiscoveryProtocol[] = ['triple', 'bolt']
const DEFAULT_PROTOCOLS: readonly DiscoveryProtocol[] = ['triple']
const validateCluster = compileValidator<ClusterOptions>(clusterSchema)

/** Settings of a discovered cluster nobody configured: defaults, and no fallback to other
 *  services' hosts when a service has no instance (policy none). */
function defaultTemplate (name: string, protocol: DiscoveryProtocol): ClusterOptions {
  return validateCluster({ name, protocol, subsetFallback: { policy: 'none' } })
}

interface Assembling {
  readonly inst: InstanceOptions
  marks: Set<string>
  /** `marks` is shared with other instances: copy before adding. */
  shared?: boolean
}

export interface AssembledDiscovery {
  clusters: ClusterOptions[]
  routes: RouteOptions[]
}

/** Interface-level pushes of one app, sorted by service name. */
export type ServicePushList = ReadonlyArray<readonly [string, ServicePushOptions]>

/**
 * @param templates cluster settings by name (explicit clusters named `<app>:<protocol>`);
 *   their hosts are replaced by the discovered ones.
 */
export async function assembleDiscovery (
  apps: ReadonlyMap<string, AppPushOptions>,
  services: ReadonlyMap<string, ServicePushOptions>,
  templates: ReadonlyMap<string, ClusterOptions>,
): Promise<AssembledDiscovery> {
  const byApp = servicePushesByApp(services)
  const names = new Set<string>([...apps.keys(), ...byApp.keys()])
  const clusters: ClusterOptions[] = []
  const routes: RouteOptions[] = []
  for (const app of [...names].sort()) {
    const r = await new AppAssembler(app).assemble(apps.get(app), byApp.get(app) ?? [], templates)
    clusters.push(...r.clusters)
    routes.push(...r.routes)
  }
  return { clusters, routes }
}

/** Interface-level pushes grouped by app, each list sorted by service name. */
export function servicePushesByApp (services: ReadonlyMap<string, ServicePushOptions>): Map<string, Array<[string, ServicePushOptions]>> {
  const byApp = new Map<string, Array<[string, ServicePushOptions]>>()
  for (const [name, s] of services) {
    let l = byApp.get(s.app)
    if (l === undefined) { l = []; byApp.set(s.app, l) }
    l.push([name, s])
  }
  for (const l of byApp.values()) l.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  return byApp
}

/** What an app-level splice needs to place new instances the way a full assembly would. */
interface SpliceState {
  /** Instance ids (`address|port`) of the last push; no duplicates (else no splicing). */
  readonly ids: Set<string>
  /** Per protocol, aligned with the last push's instances: its host, or null. */
  readonly hostAt: Map<DiscoveryProtocol, Array<HostOptions | null>>
  readonly all: ReadonlySet<string>
  readonly keysByName: ReadonlyMap<string, string[]>
  readonly labelsOf: (inst: InstanceOptions, marks: ReadonlySet<string>) => Readonly<Record<string, string>>
}

/** Assembles one app, remembering its last inputs and result (see the file comment). */
export class AppAssembler {
  readonly app: string
  #pushed: AppPushOptions | undefined
  #services: ServicePushList = []
  #templates: Array<ClusterOptions | undefined> = []
  #result: AssembledDiscovery | null = null
  #splice: SpliceState | null = null

  constructor (app: string) { this.app = app }

  /** @param slicer yields between slices of a whole assembly (10,000 instances: ~30 ms). */
  async assemble (pushed: AppPushOptions | undefined, services: ServicePushList, templates: ReadonlyMap<string, ClusterOptions>, slicer?: Slicer): Promise<AssembledDiscovery> {
    const tpl = PROTOCOLS.map(p => templates.get(appClusterName(this.app, p)))
    const prev = this.#result
    if (prev !== null && sameItems(tpl, this.#templates) && sameServices(services, this.#services)) {
      if (pushed === this.#pushed) return prev
      const r = this.#spliced(pushed)
      if (r !== null) return r
    }
    const result = await this.#full(pushed, services, templates, slicer)
    this.#pushed = pushed
    this.#services = services
    this.#templates = tpl
    this.#result = result
    return result
  }

  /** The last result with the pushed instances spliced, or null when that is not exact. */
  #spliced (pushed: AppPushOptions | undefined): AssembledDiscovery | null {
    const st = this.#splice
    const old = this.#pushed
    const prev = this.#result
    if (st === null || old === undefined || pushed === undefined || prev === null || this.#services.length > 0) return null
    if (pushed.services !== old.services && !sameItems(pushed.services, old.services)) return null
    const a = old.instances
    const b = pushed.instances
    const { at, removed, inserted } = spliceOf(a, b)
    if (removed + inserted > Math.max(64, b.length >>> 2)) return null
    // A full assembly dedups instances by id, keeping the first position: splice only when
    // the new list still has no duplicate.
    const gone = new Set<string>()
    for (let i = at; i < at + removed; i++) gone.add(instanceId(a[i]))
    const added = new Set<string>()
    for (let i = at; i < at + inserted; i++) {
      const id = instanceId(b[i])
      if (added.has(id) || (st.ids.has(id) && !gone.has(id))) return null
      added.add(id)
    }
    // Hosts per protocol; a cluster appearing or vanishing changes the routes: assemble whole.
    const next = new Map<DiscoveryProtocol, { hosts: HostOptions[], at: Array<HostOptions | null> }>()
    for (const protocol of PROTOCOLS) {
      const hostAt = st.hostAt.get(protocol)!
      const fresh: Array<HostOptions | null> = []
      for (let i = at; i < at + inserted; i++) {
        const inst = b[i]
        fresh.push((inst.protocols ?? DEFAULT_PROTOCOLS).includes(protocol) ? toHost(inst, protocol, st.labelsOf(inst, marksOf(inst, st))) : null)
      }
      const name = appClusterName(this.app, protocol)
      const cur = prev.clusters.find(c => c.name === name)
      let q = 0
      for (let i = 0; i < at; i++) if (hostAt[i] !== null) q++
      let out = 0
      for (let i = at; i < at + removed; i++) if (hostAt[i] !== null) out++
      const ins = fresh.filter((h): h is HostOptions => h !== null)
      const oldHosts = cur?.hosts ?? []
      let hosts = oldHosts
      if (out !== 0 || ins.length !== 0) { hosts = oldHosts.slice(); hosts.splice(q, out, ...ins) }
      if ((cur === undefined) !== (hosts.length === 0 && this.#templates[PROTOCOLS.indexOf(protocol)] === undefined)) return null
      next.set(protocol, { hosts, at: fresh })
    }
    // Exact: commit (nothing below can fail).
    for (const id of gone) st.ids.delete(id)
    for (const id of added) st.ids.add(id)
    for (const [protocol, n] of next) st.hostAt.get(protocol)!.splice(at, removed, ...n.at)
    const clusters = prev.clusters.map(c => {
      const hosts = next.get(c.protocol as DiscoveryProtocol)!.hosts
      return hosts === c.hosts ? c : { ...c, hosts }
    })
    this.#pushed = pushed
    this.#result = { clusters, routes: prev.routes }
    return this.#result
  }

  async #full (pushed: AppPushOptions | undefined, svcPushes: ServicePushList, templates: ReadonlyMap<string, ClusterOptions>, slicer?: Slicer): Promise<AssembledDiscovery> {
    const app = this.app
    const clusters: ClusterOptions[] = []
    const routes: RouteOptions[] = []
    const exported = new Map<string, ExportedServiceOptions>()
    const instances = new Map<string, Assembling>()
    const keysByName = new Map<string, string[]>()

    if (pushed !== undefined) {
      for (const s of pushed.services) {
        const k = serviceKey(s)
        exported.set(k, s)
        const l = keysByName.get(s.name)
        if (l === undefined) keysByName.set(s.name, [k]); else l.push(k)
      }
    }
    // Instances exporting every service share one set (copied before a fold adds to it).
    const all = new Set(exported.keys())
    if (pushed !== undefined) {
      for (let i = 0; i < pushed.instances.length; i++) {
        const inst = pushed.instances[i]
        const marks = inst.services === undefined ? all : marksOf(inst, { all, keysByName })
        instances.set(instanceId(inst), { inst, marks, shared: marks === all })
        if ((i & 1023) === 1023 && slicer !== undefined) await slicer.pause()
      }
    }
    for (const [name, s] of svcPushes) {
      await slicer?.pause()
      const k = serviceKey({ name, version: s.version, group: s.group })
      if (!exported.has(k)) exported.set(k, { name, version: s.version, group: s.group })
      for (const p of s.providers) {
        const id = instanceId(p)
        const cur = instances.get(id)
        if (cur === undefined) instances.set(id, { inst: p, marks: new Set([k]) })
        else if (!cur.marks.has(k)) {
          if (cur.shared === true) { cur.marks = new Set(cur.marks); cur.shared = false }
          cur.marks.add(k)
        }
      }
    }

    // A service name exported in several variants needs version/group in its route match.
    const variants = new Map<string, number>()
    for (const s of exported.values()) variants.set(s.name, (variants.get(s.name) ?? 0) + 1)

    const labelsOf = labelCache()
    // Later one-host deltas can be spliced in when this is a plain app-level push.
    const splice = pushed !== undefined && svcPushes.length === 0 && instances.size === pushed.instances.length
    const hostAt = new Map<DiscoveryProtocol, Array<HostOptions | null>>()
    for (const protocol of PROTOCOLS) {
      const hosts: HostOptions[] = []
      const at: Array<HostOptions | null> = []
      let n = 0
      for (const { inst, marks } of instances.values()) {
        if ((++n & 1023) === 0 && slicer !== undefined) await slicer.pause()
        if (!(inst.protocols ?? DEFAULT_PROTOCOLS).includes(protocol)) { at.push(null); continue }
        const h = toHost(inst, protocol, labelsOf(inst, marks))
        hosts.push(h)
        at.push(h)
      }
      hostAt.set(protocol, at)
      const name = appClusterName(app, protocol)
      const template = templates.get(name)
      if (hosts.length === 0 && template === undefined) continue
      const base = template ?? defaultTemplate(name, protocol)
      clusters.push({ ...base, name, protocol, hosts })
      for (const [k, s] of exported) {
        const match: RouteOptions['match'] = { protocol, service: { exact: s.name } }
        if ((variants.get(s.name) ?? 0) > 1) {
          if (s.version !== undefined && s.version !== '') match.version = s.version
          if (s.group !== undefined && s.group !== '') match.group = s.group
        }
        routes.push({
          name: `discovery:${app}:${protocol}:${k}`,
          match,
          cluster: name,
          subset: { [SERVICE_LABEL_PREFIX + k]: 'true' },
          timeoutMs: 30000,
          requireMethod: false,
        })
      }
    }
    this.#splice = splice ? { ids: new Set(instances.keys()), hostAt, all, keysByName, labelsOf } : null
    return { clusters, routes }
  }
}

function instanceId (inst: InstanceOptions): string { return `${inst.address}|${inst.port}` }

/** Service keys an instance of an app-level push exports. */
function marksOf (inst: InstanceOptions, st: Pick<SpliceState, 'all' | 'keysByName'>): Set<string> {
  if (inst.services === undefined) return st.all as Set<string>
  const marks = new Set<string>()
  for (const n of inst.services) for (const k of st.keysByName.get(n) ?? []) marks.add(k)
  return marks
}

/**
 * Hosts with the same labels and services share one frozen labels object: 10,000 instances
 * usually have a handful of distinct combinations, and building a 20-key object per host
 * dominated a full push (mostly GC).
 */
function labelCache (): (inst: InstanceOptions, marks: ReadonlySet<string>) => Readonly<Record<string, string>> {
  // Two levels (marks, then labels): the marks id is long (20 services: ~600 characters) but
  // one string per marks set, so its hash is computed once; the labels id is short.
  const byMarks = new Map<string, Map<string, Readonly<Record<string, string>>>>()
  const markIds = new Map<ReadonlySet<string>, Map<string, Readonly<Record<string, string>>>>()
  return (inst, marks) => {
    let objects = markIds.get(marks)
    if (objects === undefined) {
      const id = [...marks].sort().join('\u0000')
      objects = byMarks.get(id)
      if (objects === undefined) { objects = new Map(); byMarks.set(id, objects) }
      markIds.set(marks, objects)
    }
    const id = inst.labels === undefined ? '' : labelsId(inst.labels)
    let o = objects.get(id)
    if (o === undefined) {
      const m: Record<string, string> = inst.labels === undefined ? {} : { ...inst.labels }
      for (const k of [...marks].sort()) m[SERVICE_LABEL_PREFIX + k] = 'true'
      o = Object.freeze(m)
      objects.set(id, o)
    }
    return o
  }
}

/** Key of a labels object: length-prefixed pairs (unambiguous, cheaper than JSON.stringify). */
function labelsId (labels: Readonly<Record<string, string>>): string {
  let s = '\u0001'
  for (const k in labels) { const v = labels[k]; s += `${k.length}:${k}${v.length}:${v}` }
  return s
}

function sameServices (a: ServicePushList, b: ServicePushList): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1]) return false
  return true
}

function toHost (inst: InstanceOptions, protocol: DiscoveryProtocol, labels: Readonly<Record<string, string>>): HostOptions {
  // Shared and frozen on purpose (see labelCache); Host keeps a frozen labels object as is.
  const h: HostOptions = { address: inst.address, port: inst.ports?.[protocol] ?? inst.port, labels: labels as Record<string, string> }
  if (inst.zone !== undefined) h.zone = inst.zone
  h.weight = inst.weight ?? 1
  return h
}
