/**
 * The bridge's view of the registry, grouped the way the admin API wants it: providers that
 * carry an app name become application-level resources (`app/<app>`: one push per app, the
 * instances plus the services they export); providers without one fall back to an
 * interface-level resource per service (`service/<name>`). A service without an app whose
 * providers export several variants (version/uniqueId) cannot be one interface-level push
 * (it carries one variant), so it becomes an app-level resource named after the service.
 *
 * The catalog only computes; the pusher decides how to send a resource (pusher.ts).
 */
import { effectiveWeight, instanceId, type BridgeProtocol, type Provider } from './model.js'

export interface InstanceBody {
  address: string
  port: number
  protocols: [BridgeProtocol]
  zone?: string
  labels: Record<string, string>
  weight: number
  /** Service names this instance exports, when not all of its app's. */
  services?: string[]
}

export interface ServiceBody { name: string, version?: string, group?: string }

export interface AppResource {
  readonly kind: 'app'
  readonly name: string
  readonly instances: InstanceBody[]
  readonly services: ServiceBody[]
}

export interface ServiceResource {
  readonly kind: 'service'
  readonly name: string
  readonly app: string
  readonly version?: string
  readonly group?: string
  readonly providers: InstanceBody[]
}

export type Resource = AppResource | ServiceResource

export interface Built {
  /** Null: nothing left (the resource is deleted). */
  readonly resource: Resource | null
  /** When a provider's warm-up ends and the resource must be rebuilt (epoch ms), or null. */
  readonly wakeAt: number | null
  /** Instances that export only some variants of a service name the app exports in several
   *  (the admin marks instances by service name, so routing may cross those variants). */
  readonly ambiguous: number
}

const APP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,118}$/

/** App name for a service without one (the cluster `<name>:<protocol>`). */
export function syntheticApp (service: string): string {
  if (APP_NAME_RE.test(service)) return service
  let s = service.replace(/[^A-Za-z0-9._-]/g, '_')
  if (!/^[A-Za-z0-9]/.test(s)) s = 'x' + s
  return s.slice(0, 119)
}

function variantOf (p: Provider): string { return `${p.version}\u0000${p.group}` }

/** Resource keys a service's providers contribute to. */
function keysOf (service: string, providers: readonly Provider[]): Set<string> {
  const keys = new Set<string>()
  const appless = new Set<string>()
  for (const p of providers) {
    if (p.app !== undefined) keys.add(`app/${p.app}`)
    else appless.add(variantOf(p))
  }
  if (appless.size === 1) keys.add(`service/${service}`)
  else if (appless.size > 1) keys.add(`app/${syntheticApp(service)}`)
  return keys
}

export class Catalog {
  readonly #providers = new Map<string, readonly Provider[]>()
  readonly #keysOfService = new Map<string, Set<string>>()
  readonly #servicesOfKey = new Map<string, Set<string>>()

  /** Replace one service's providers; returns the resource keys that may have changed. */
  set (service: string, providers: readonly Provider[]): string[] {
    const old = this.#keysOfService.get(service) ?? new Set<string>()
    const next = providers.length === 0 ? new Set<string>() : keysOf(service, providers)
    if (providers.length === 0) this.#providers.delete(service)
    else this.#providers.set(service, providers)
    for (const k of old) {
      if (next.has(k)) continue
      const s = this.#servicesOfKey.get(k)
      s?.delete(service)
      if (s?.size === 0) this.#servicesOfKey.delete(k)
    }
    for (const k of next) {
      let s = this.#servicesOfKey.get(k)
      if (s === undefined) { s = new Set(); this.#servicesOfKey.set(k, s) }
      s.add(service)
    }
    if (next.size === 0) this.#keysOfService.delete(service)
    else this.#keysOfService.set(service, next)
    return [...new Set([...old, ...next])]
  }

  /** Replace everything (a full resync); returns every key that existed before or now. */
  replaceAll (all: ReadonlyMap<string, readonly Provider[]>): string[] {
    const dirty = new Set<string>(this.#servicesOfKey.keys())
    for (const s of [...this.#providers.keys()]) if (!all.has(s)) for (const k of this.set(s, [])) dirty.add(k)
    for (const [s, ps] of all) for (const k of this.set(s, ps)) dirty.add(k)
    return [...dirty]
  }

  keys (): IterableIterator<string> { return this.#servicesOfKey.keys() }
  services (): IterableIterator<string> { return this.#providers.keys() }
  providers (service: string): readonly Provider[] { return this.#providers.get(service) ?? [] }

  get providerCount (): number {
    let n = 0
    for (const ps of this.#providers.values()) n += ps.length
    return n
  }

  build (key: string, now: number): Built {
    const services = [...(this.#servicesOfKey.get(key) ?? [])].sort()
    if (services.length === 0) return { resource: null, wakeAt: null, ambiguous: 0 }
    if (key.startsWith('service/')) return this.#buildService(key.slice(8), now)
    return this.#buildApp(key.slice(4), services, now)
  }

  #buildService (service: string, now: number): Built {
    const providers = this.providers(service).filter(p => p.app === undefined)
    const wake = new Wake(now)
    const byId = new Map<string, InstanceBody>()
    for (const p of providers) merge(byId, p, now, wake)
    const first = providers[0]
    const r: { -readonly [K in keyof ServiceResource]: ServiceResource[K] } = {
      kind: 'service', name: service, app: syntheticApp(service), providers: sortedInstances(byId),
    }
    if (first.version !== '') r.version = first.version
    if (first.group !== '') r.group = first.group
    return { resource: r, wakeAt: wake.at, ambiguous: 0 }
  }

  #buildApp (app: string, services: readonly string[], now: number): Built {
    const wake = new Wake(now)
    const byId = new Map<string, InstanceBody>()
    const variants = new Map<string, ServiceBody>()
    const variantsByName = new Map<string, Set<string>>()
    /** Instance id -> variant ids it exports. */
    const exportsOf = new Map<string, Set<string>>()
    for (const service of services) {
      // Providers without an app belong here only when their service is multi-variant.
      const appless = syntheticApp(service) === app && !(this.#keysOfService.get(service)?.has(`service/${service}`) ?? false)
      for (const p of this.providers(service)) {
        if (!(p.app === app || (p.app === undefined && appless))) continue
        const v = `${service}\u0000${variantOf(p)}`
        if (!variants.has(v)) {
          const sb: ServiceBody = { name: service }
          if (p.version !== '') sb.version = p.version
          if (p.group !== '') sb.group = p.group
          variants.set(v, sb)
          let byName = variantsByName.get(service)
          if (byName === undefined) { byName = new Set(); variantsByName.set(service, byName) }
          byName.add(v)
        }
        const inst = merge(byId, p, now, wake)
        const id = instanceId(inst, inst.protocols[0])
        let ex = exportsOf.get(id)
        if (ex === undefined) { ex = new Set(); exportsOf.set(id, ex) }
        ex.add(v)
        inst.services ??= []
        if (!inst.services.includes(service)) inst.services.push(service)
      }
    }
    const names = variantsByName.size
    let ambiguous = 0
    for (const inst of byId.values()) {
      const ex = exportsOf.get(instanceId(inst, inst.protocols[0]))!
      for (const name of inst.services!) {
        const all = variantsByName.get(name)!
        if (all.size > 1) { for (const v of all) if (!ex.has(v)) { ambiguous++; break } }
      }
      if (inst.services!.length === names) delete inst.services
      else inst.services!.sort()
    }
    const svc = [...variants.entries()].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map(e => e[1])
    return { resource: { kind: 'app', name: app, instances: sortedInstances(byId), services: svc }, wakeAt: wake.at, ambiguous }
  }
}

/** Earliest warm-up end still ahead. */
class Wake {
  at: number | null = null
  constructor (readonly now: number) {}
  see (p: Provider): void {
    const u = p.warmup?.until
    if (u !== undefined && u > this.now && (this.at === null || u < this.at)) this.at = u
  }
}

/**
 * Add a provider to its instance (address, port, protocol). A process exporting several
 * services registers once per service: the instance takes the lowest weight among them (one
 * still warming up keeps the instance warming) and the first zone and labels in service order.
 */
function merge (byId: Map<string, InstanceBody>, p: Provider, now: number, wake: Wake): InstanceBody {
  wake.see(p)
  const id = instanceId(p, p.protocol)
  const w = effectiveWeight(p, now)
  let inst = byId.get(id)
  if (inst === undefined) {
    inst = { address: p.address, port: p.port, protocols: [p.protocol], labels: { ...p.labels }, weight: w }
    if (p.zone !== undefined) inst.zone = p.zone
    byId.set(id, inst)
    return inst
  }
  if (w < inst.weight) inst.weight = w
  if (inst.zone === undefined && p.zone !== undefined) inst.zone = p.zone
  for (const k in p.labels) if (!(k in inst.labels)) inst.labels[k] = p.labels[k]
  return inst
}

function sortedInstances (byId: Map<string, InstanceBody>): InstanceBody[] {
  return [...byId.entries()].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map(e => e[1])
}
