/**
 * Discovery model -> clusters and routes. One cluster per app and protocol
 * (`<app>:triple`, `<app>:bolt`); every host carries a `service:<key>` label for each service
 * variant it exports, so a service is a label subset of its app's cluster (SubsetIndex
 * bitmaps, cached per selector). One auto-route per exported service sends the service to its
 * app cluster with that subset; auto-routes come after the explicit routes, so an explicit
 * route always wins.
 */
import type { ClusterOptions, HostOptions, RouteOptions } from '../../gateway/config/options.js'
import { clusterSchema } from '../../gateway/config/schema.js'
import { compileValidator } from '../../gateway/config/validate.js'
import {
  appClusterName, serviceKey, SERVICE_LABEL_PREFIX,
  type AppPushOptions, type DiscoveryProtocol, type ExportedServiceOptions, type InstanceOptions, type ServicePushOptions,
} from './model.js'

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

/**
 * @param templates cluster settings by name (explicit clusters named `<app>:<protocol>`);
 *   their hosts are replaced by the discovered ones.
 */
export function assembleDiscovery (
  apps: ReadonlyMap<string, AppPushOptions>,
  services: ReadonlyMap<string, ServicePushOptions>,
  templates: ReadonlyMap<string, ClusterOptions>,
): AssembledDiscovery {
  const byApp = new Map<string, Array<[string, ServicePushOptions]>>()
  for (const [name, s] of services) {
    let l = byApp.get(s.app)
    if (l === undefined) { l = []; byApp.set(s.app, l) }
    l.push([name, s])
  }
  const names = new Set<string>([...apps.keys(), ...byApp.keys()])
  const clusters: ClusterOptions[] = []
  const routes: RouteOptions[] = []
  for (const app of [...names].sort()) {
    const pushed = apps.get(app)
    const svcPushes = (byApp.get(app) ?? []).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
    const exported = new Map<string, ExportedServiceOptions>()
    const instances = new Map<string, Assembling>()

    if (pushed !== undefined) {
      const keysByName = new Map<string, string[]>()
      for (const s of pushed.services) {
        const k = serviceKey(s)
        exported.set(k, s)
        const l = keysByName.get(s.name)
        if (l === undefined) keysByName.set(s.name, [k]); else l.push(k)
      }
      // Instances exporting every service share one set (copied before a fold adds to it).
      const all = new Set(exported.keys())
      for (const inst of pushed.instances) {
        let marks = all
        if (inst.services !== undefined) {
          marks = new Set<string>()
          for (const n of inst.services) for (const k of keysByName.get(n) ?? []) marks.add(k)
        }
        instances.set(`${inst.address}|${inst.port}`, { inst, marks, shared: marks === all })
      }
    }
    for (const [name, s] of svcPushes) {
      const k = serviceKey({ name, version: s.version, group: s.group })
      if (!exported.has(k)) exported.set(k, { name, version: s.version, group: s.group })
      for (const p of s.providers) {
        const id = `${p.address}|${p.port}`
        const cur = instances.get(id)
        if (cur === undefined) instances.set(id, { inst: p, marks: new Set([k]) })
        else if (!cur.marks.has(k)) {
          if (cur.shared) { cur.marks = new Set(cur.marks); cur.shared = false }
          cur.marks.add(k)
        }
      }
    }

    // A service name exported in several variants needs version/group in its route match.
    const variants = new Map<string, number>()
    for (const s of exported.values()) variants.set(s.name, (variants.get(s.name) ?? 0) + 1)

    // Hosts with the same labels and services share one frozen labels object: 10,000
    // instances usually have a handful of distinct combinations, and building a 20-key
    // object per host dominated a full push (mostly GC).
    const labelObjects = new Map<string, Readonly<Record<string, string>>>()
    const markIds = new Map<ReadonlySet<string>, string>()
    const labelsOf = (inst: InstanceOptions, marks: ReadonlySet<string>): Readonly<Record<string, string>> => {
      let id = markIds.get(marks)
      if (id === undefined) { id = [...marks].sort().join('\u0000'); markIds.set(marks, id) }
      if (inst.labels !== undefined) id += '\u0001' + JSON.stringify(inst.labels)
      let o = labelObjects.get(id)
      if (o === undefined) {
        const m: Record<string, string> = inst.labels === undefined ? {} : { ...inst.labels }
        for (const k of [...marks].sort()) m[SERVICE_LABEL_PREFIX + k] = 'true'
        o = Object.freeze(m)
        labelObjects.set(id, o)
      }
      return o
    }
    for (const protocol of PROTOCOLS) {
      const hosts: HostOptions[] = []
      for (const { inst, marks } of instances.values()) {
        if (!(inst.protocols ?? DEFAULT_PROTOCOLS).includes(protocol)) continue
        hosts.push(toHost(inst, protocol, labelsOf(inst, marks)))
      }
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
  }
  return { clusters, routes }
}

function toHost (inst: InstanceOptions, protocol: DiscoveryProtocol, labels: Readonly<Record<string, string>>): HostOptions {
  // Shared and frozen on purpose (see labelsOf); Host keeps a frozen labels object as is.
  const h: HostOptions = { address: inst.address, port: inst.ports?.[protocol] ?? inst.port, labels: labels as Record<string, string> }
  if (inst.zone !== undefined) h.zone = inst.zone
  h.weight = inst.weight ?? 1
  return h
}
