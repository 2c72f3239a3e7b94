import { performance } from 'node:perf_hooks'
import type { Cluster } from '../../gateway/cluster/cluster.js'
import { hostState } from '../../gateway/cluster/outlier.js'
/**
 * The /v1 resource endpoints (DESIGN.md "Admin API"). Each validates its body with the
 * config schema's parts (400 with the JSON path of the first error), then hands a pure
 * `next(current)` to the store, which applies the revision rule, compiles and swaps.
 */
import type { ClusterOptions, FilterEntryOptions, HostOptions, LdcOptions, PoliciesOptions, RouteOptions } from '../../gateway/config/options.js'
import { clusterSchema, filterEntrySchema, hostSchema, ldcSchema, policiesSchema, routeSchema } from '../../gateway/config/schema.js'
import { compileValidator, type Validator } from '../../gateway/config/validate.js'
import { IsthmusError } from '../../gateway/errors.js'
import type { JsonSchema } from '../../gateway/chain/filter-api.js'
import type { AppPushOptions, DiscoveryProtocol, InstanceOptions, ServicePushOptions } from '../discovery/model.js'
import { appPushSchema, instanceSchema, MAX_REVISION, revisionSchema, servicePushSchema } from '../discovery/schema.js'
import { renamed } from '../http.js'
import { checkName, quote, type NameKind } from '../names.js'
import { Slicer } from '../slicer.js'
import { resourceKey } from '../effective.js'
import { redactFilterConfig, redactOptions } from '../redact.js'
import type { AdminHandler, AdminReply, AdminRequest, AdminRouter } from '../router.js'
import type { AdminStore, WriteResult } from '../store.js'

/** Add a required `revision` to an object schema. */
function withRevision (schema: JsonSchema, required: readonly string[] = []): JsonSchema {
  const s = schema as { properties: Record<string, unknown>, required?: readonly string[] }
  return { ...schema, properties: { revision: revisionSchema, ...s.properties }, required: ['revision', ...(s.required ?? []).filter(r => !required.includes(r)), ...required] }
}

type Rev<T> = T & { revision: number }

const validateClusterBody = compileValidator<Rev<Partial<ClusterOptions>>>({
  ...withRevision(clusterSchema),
  required: ['revision', 'protocol'],
})
const validateRoutesBody = compileValidator<{ revision: number, routes: RouteOptions[] }>({
  type: 'object', additionalProperties: false, required: ['revision', 'routes'],
  properties: { revision: revisionSchema, routes: { type: 'array', items: routeSchema } },
})
const validateLdcBody = compileValidator<Rev<LdcOptions>>(withRevision(ldcSchema))
const validatePoliciesBody = compileValidator<Rev<PoliciesOptions>>(withRevision(policiesSchema))
const filterProps = (filterEntrySchema as { properties: Record<string, JsonSchema> }).properties
const validateFilterBody = compileValidator<{ revision: number, config?: Record<string, unknown>, enabled?: boolean }>({
  type: 'object', additionalProperties: false, required: ['revision'], minProperties: 2,
  properties: { revision: revisionSchema, config: { type: 'object' }, enabled: filterProps.enabled },
})
const hostRef = {
  oneOf: [
    { type: 'string', pattern: '^.+:[0-9]{1,5}$' },
    { type: 'object', additionalProperties: false, required: ['address', 'port'], properties: { address: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } } },
  ],
} as const
const validateHostsPatch = compileValidator<{ revision: number, add?: HostOptions[], remove?: Array<string | { address: string, port: number }> }>({
  type: 'object', additionalProperties: false, required: ['revision'],
  properties: { revision: revisionSchema, add: { type: 'array', items: hostSchema }, remove: { type: 'array', items: hostRef } },
})
const validateAppPush = compileValidator<Rev<AppPushOptions>>(appPushSchema)
const validateServicePush = compileValidator<Rev<ServicePushOptions>>(servicePushSchema)
// Big pushes are validated in slices (see validatePush): the body without the instance list's
// items, then each instance.
const withoutItems = (schema: JsonSchema, prop: string): JsonSchema => {
  const s = schema as { properties: Record<string, unknown> }
  return { ...schema, properties: { ...s.properties, [prop]: { type: 'array' } } }
}
const validateAppPushHead = compileValidator<Rev<AppPushOptions>>(withoutItems(appPushSchema, 'instances'))
const validateServicePushHead = compileValidator<Rev<ServicePushOptions>>(withoutItems(servicePushSchema, 'providers'))
const validateInstance = compileValidator<InstanceOptions>(instanceSchema)
const SLICED_ABOVE = 1000

/**
 * Validate a discovery push. A big one (10,000 instances: ~30 ms of ajv) is checked as its
 * head and then instance by instance, yielding to the event loop between slices, so calls in
 * flight are not held for the whole validation. Same checks and error paths; with several
 * errors in one body, one in the head is reported before one in an instance.
 */
async function validatePush<T> (body: unknown, whole: Validator<T>, head: Validator<T>, prop: string): Promise<T> {
  const items = (body as Record<string, unknown> | null)?.[prop]
  if (!Array.isArray(items) || items.length <= SLICED_ABOVE) return whole(body)
  const out = head(body)
  const slicer = new Slicer()
  for (let i = 0; i < items.length; i++) {
    validateInstance(items[i], `/${prop}/${i}`)
    if ((i & 255) === 255) await slicer.pause()
  }
  return out
}
const validateDeleteBody = compileValidator<{ revision: number }>({
  type: 'object', additionalProperties: false, required: ['revision'], properties: { revision: revisionSchema },
})

/** A write handler whose body errors name the resource ("invalid app payments: /instances/0/port: ..."). */
function about (what: (req: AdminRequest) => string, handler: AdminHandler): AdminHandler {
  return async (req) => {
    try {
      return await handler(req)
    } catch (err) {
      throw renamed(err, what(req))
    }
  }
}

/** The path parameter `param`, checked against the rule of its kind (400 otherwise). */
function nameParam (req: AdminRequest, param: string, kind: NameKind): string {
  return checkName(kind, req.params[param])
}

function ok (r: WriteResult): AdminReply {
  return { status: 200, body: { key: r.key, revision: r.revision, changed: r.changed, generation: r.generation } }
}

function notFound (what: string): never {
  throw new IsthmusError('ISTH_ERR_ADMIN_NOT_FOUND', what)
}

/** GET/PUT of one top-level config section kept whole (`ldc`, `policies`). */
function mountSection (router: AdminRouter, store: AdminStore, key: 'ldc' | 'policies', what: string, validate: (v: unknown) => { revision: number }): void {
  const prefix = `/${key}/`
  router.add('GET', `/v1/${key}`, () => {
    if (store.options[key] === undefined) notFound(what)
    return { status: 200, body: { revision: store.entry(key)?.revision ?? 0, [key]: store.options[key] } }
  })
  router.add('PUT', `/v1/${key}`, about(() => what, async (req) => {
    const body = validate(req.body)
    const value = strip(body)
    return ok(await store.write(key, body.revision, () => value, { who: req.principal, rebasePath: p => p.startsWith(prefix) ? p.slice(prefix.length - 1) : undefined }))
  }))
}

function strip<T extends { revision: number }> (body: T): Omit<T, 'revision'> {
  const { revision: _r, ...rest } = body
  return rest
}

/** DELETE takes its revision from `?revision=` or a `{ "revision": n }` body. */
function deleteRevision (req: AdminRequest): number {
  const q = req.query.get('revision')
  if (q !== null) {
    // Digits only (no "1e308", "0x10", " 1"), and within the bound every revision has.
    const n = /^[0-9]{1,16}$/.test(q) ? Number(q) : NaN
    if (!(n <= MAX_REVISION)) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/revision: ?revision=${quote(q)} must be an integer from 0 to ${MAX_REVISION}`, '/revision')
    return n
  }
  return validateDeleteBody(req.body ?? {}).revision
}

function hostKey (address: string, port: number): string { return `${address}|${port}` }

/**
 * `list` without the `remove`d hosts and with the `add`ed ones appended (unless present).
 * Unchanged entries stay the same objects in the same order, and a one-host patch of a
 * 10,000-host list builds no per-host string: the store and compiler then splice (O(delta)).
 */
function patchList<T extends { address: string }> (
  list: readonly T[], remove: ReadonlyArray<{ address: string, port: number }>, add: readonly HostOptions[],
  portOf: (x: T) => number, make: (h: HostOptions) => T,
): T[] {
  let out: T[]
  if (remove.length === 0) out = list.slice()
  else {
    const drop = new Set(remove.map(r => hostKey(r.address, r.port)))
    const addresses = new Set(remove.map(r => r.address))
    out = list.filter(x => !(addresses.has(x.address) && drop.has(hostKey(x.address, portOf(x)))))
  }
  // A few adds: scan for each (no allocation); many: one set of the present keys.
  const known = add.length <= 8 ? null : new Set(out.map(x => hostKey(x.address, portOf(x))))
  for (const h of add) {
    const here = known === null
      ? out.some(x => x.address === h.address && portOf(x) === h.port)
      : known.has(hostKey(h.address, h.port))
    if (here) continue
    out.push(make(h))
    known?.add(hostKey(h.address, h.port))
  }
  return out
}

function parseRef (r: string | { address: string, port: number }): { address: string, port: number } {
  if (typeof r !== 'string') return r
  const i = r.lastIndexOf(':')
  return { address: r.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(r.slice(i + 1)) }
}

/** The live state of a cluster: its calls in flight and breakers, each host's health. */
function clusterState (c: Cluster): Record<string, unknown> {
  const h = c.health
  const now = performance.now()
  return {
    inFlight: h.active,
    pending: h.pending,
    retriesInFlight: h.retries,
    connections: h.connections,
    ejected: h.ejectedCount(now),
    hosts: c.hosts.map(x => hostState(x, now)),
  }
}

export function mountResourceRoutes (router: AdminRouter, store: AdminStore, _maxBodyBytes: number, workers?: () => ReadonlyArray<object>): void {
  // A multi-worker gateway also lists each worker's generation (every ready one serves `generation`).
  router.add('GET', '/v1/config', () => ({
    status: 200,
    body: workers === undefined
      ? { generation: store.generation, config: redactOptions(store.options) }
      : { generation: store.generation, workers: workers(), config: redactOptions(store.options) },
  }))

  // ---- clusters
  router.add('GET', '/v1/clusters', () => ({
    status: 200,
    body: {
      clusters: store.options.clusters.map(c => ({
        name: c.name, protocol: c.protocol, hosts: c.hosts.length,
        source: clusterSource(store, c.name), revision: clusterRevision(store, c.name),
      })),
    },
  }))
  router.add('GET', '/v1/clusters/:name', (req) => {
    const name = nameParam(req, 'name', 'cluster')
    const c = store.options.clusters.find(x => x.name === name)
    if (c === undefined) notFound(`cluster ${name}`)
    const live = store.snapshot.clusters.get(c.name)
    return {
      status: 200,
      body: {
        revision: clusterRevision(store, c.name),
        source: clusterSource(store, c.name),
        cluster: c,
        ...(live !== undefined && live.hosts.length !== c.hosts.length ? { shardHosts: live.hosts.length } : {}),
        ...(live !== undefined ? { state: clusterState(live) } : {}),
      },
    }
  })
  router.add('PUT', '/v1/clusters/:name', about(req => `cluster ${req.params.name}`, async (req) => {
    const name = nameParam(req, 'name', 'cluster')
    const body = validateClusterBody(req.body)
    if (body.name !== undefined && body.name !== name) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/name: must equal the name in the path (${name})`, '/name')
    const value = { ...strip(body), name } as ClusterOptions
    return ok(await store.write(resourceKey('cluster', name), body.revision, () => value, { who: req.principal }))
  }))
  router.add('DELETE', '/v1/clusters/:name', async (req) => {
    const name = nameParam(req, 'name', 'cluster')
    const revision = deleteRevision(req)
    if (!store.options.clusters.some(c => c.name === name)) notFound(`cluster ${name}`)
    if (store.discoveredClusters.has(name) && store.entry(resourceKey('cluster', name)) === undefined) {
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/: cluster ${name} comes from discovery; delete the app (DELETE /v1/discovery/apps/{app})`, '/')
    }
    return ok(await store.write(resourceKey('cluster', name), revision, () => null, { who: req.principal }))
  })
  router.add('PATCH', '/v1/clusters/:name/hosts', about(req => `cluster ${req.params.name}`, async (req) => {
    const name = nameParam(req, 'name', 'cluster')
    const body = validateHostsPatch(req.body)
    const add = body.add ?? []
    const remove = (body.remove ?? []).map(parseRef)
    const discovered = discoveredTarget(store, name)
    if (discovered !== null) {
      const { app, protocol } = discovered
      const portOf = (i: InstanceOptions): number => i.ports?.[protocol] ?? i.port
      return ok(await store.write(resourceKey('app', app), body.revision, (cur) => {
        const push = (cur ?? { instances: [], services: [] }) as AppPushOptions
        const instances = patchList(push.instances, remove, add, portOf, h => {
          const inst: InstanceOptions = { address: h.address, port: h.port, protocols: [protocol] }
          if (h.zone !== undefined) inst.zone = h.zone
          if (h.labels !== undefined) inst.labels = h.labels
          if (h.weight !== undefined) inst.weight = h.weight
          return inst
        })
        return { ...push, instances }
      }, { who: req.principal }))
    }
    const base = store.options.clusters.find(c => c.name === name)
    if (base === undefined) notFound(`cluster ${name}`)
    return ok(await store.write(resourceKey('cluster', name), body.revision, (cur) => {
      const c = (cur ?? base) as ClusterOptions
      return { ...c, hosts: patchList(c.hosts, remove, add, h => h.port, h => h) }
    }, { who: req.principal }))
  }))

  // ---- discovery
  router.add('GET', '/v1/discovery/apps', () => ({ status: 200, body: { apps: listKind(store, 'app/') } }))
  router.add('GET', '/v1/discovery/apps/:app', (req) => { const app = nameParam(req, 'app', 'app'); return readResource(store, resourceKey('app', app), `app ${app}`) })
  router.add('PUT', '/v1/discovery/apps/:app', about(req => `app ${req.params.app}`, async (req) => {
    const app = nameParam(req, 'app', 'app')
    const body = await validatePush(req.body, validateAppPush, validateAppPushHead, 'instances')
    const value = strip(body)
    return ok(await store.write(resourceKey('app', app), body.revision, () => value, { who: req.principal }))
  }))
  router.add('DELETE', '/v1/discovery/apps/:app', async (req) => {
    const app = nameParam(req, 'app', 'app')
    const revision = deleteRevision(req)
    const key = resourceKey('app', app)
    if (store.entry(key)?.value == null) notFound(`app ${app}`)
    return ok(await store.write(key, revision, () => null, { who: req.principal }))
  })
  router.add('GET', '/v1/discovery/services', () => ({ status: 200, body: { services: listKind(store, 'service/') } }))
  router.add('GET', '/v1/discovery/services/:service', (req) => { const service = nameParam(req, 'service', 'service'); return readResource(store, resourceKey('service', service), `service ${service}`) })
  router.add('PUT', '/v1/discovery/services/:service', about(req => `service ${req.params.service}`, async (req) => {
    const service = nameParam(req, 'service', 'service')
    const body = await validatePush(req.body, validateServicePush, validateServicePushHead, 'providers')
    const value = strip(body)
    return ok(await store.write(resourceKey('service', service), body.revision, () => value, { who: req.principal }))
  }))
  router.add('DELETE', '/v1/discovery/services/:service', async (req) => {
    const service = nameParam(req, 'service', 'service')
    const revision = deleteRevision(req)
    const key = resourceKey('service', service)
    if (store.entry(key)?.value == null) notFound(`service ${service}`)
    return ok(await store.write(key, revision, () => null, { who: req.principal }))
  })

  // ---- routes, ldc, policies
  router.add('GET', '/v1/routes', () => {
    const explicitCount = store.options.routes.filter(r => !r.name.startsWith('discovery:')).length
    return {
      status: 200,
      body: {
        revision: store.entry('routes')?.revision ?? 0,
        routes: store.options.routes.slice(0, explicitCount),
        discovered: store.options.routes.slice(explicitCount),
      },
    }
  })
  router.add('PUT', '/v1/routes', about(() => 'routes', async (req) => {
    const body = validateRoutesBody(req.body)
    const routes = body.routes
    const bad = routes.findIndex(r => r.name.startsWith('discovery:'))
    if (bad >= 0) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/routes/${bad}/name: the prefix "discovery:" is reserved for auto-routes`, `/routes/${bad}/name`)
    return ok(await store.write('routes', body.revision, () => routes, { who: req.principal, rebasePath: p => /^\/routes\/\d+/.test(p) ? p : undefined }))
  }))
  // ---- whole-section resources: the LDC table and the authorization policies
  mountSection(router, store, 'ldc', 'ldc table', validateLdcBody)
  mountSection(router, store, 'policies', 'policies', validatePoliciesBody)

  // ---- filters (a chain entry's settings, by name)
  router.add('GET', '/v1/filters', () => ({
    status: 200,
    body: { filters: store.options.filters.map(f => ({ name: f.name, enabled: f.enabled !== false, revision: store.entry(resourceKey('filter', f.name))?.revision ?? 0 })) },
  }))
  router.add('GET', '/v1/filters/:name', (req) => {
    const name = nameParam(req, 'name', 'filter')
    const f = store.options.filters.find(x => x.name === name)
    if (f === undefined) notFound(`filter ${name}`)
    return { status: 200, body: { revision: store.entry(resourceKey('filter', f.name))?.revision ?? 0, name: f.name, enabled: f.enabled !== false, config: redactFilterConfig(f.config ?? {}) } }
  })
  router.add('PUT', '/v1/filters/:name', about(req => `filter ${req.params.name}`, async (req) => {
    const name = nameParam(req, 'name', 'filter')
    const index = store.baseOptions.filters.findIndex((x: FilterEntryOptions) => x.name === name)
    if (index < 0) notFound(`filter ${name} (not in the configured chain)`)
    const body = validateFilterBody(req.body)
    const value = strip(body)
    const prefix = `/filters/${index}`
    return ok(await store.write(resourceKey('filter', name), body.revision, () => value, {
      who: req.principal,
      rebasePath: p => p === prefix ? '/' : p.startsWith(prefix + '/') ? p.slice(prefix.length) : undefined,
    }))
  }))
}

function clusterSource (store: AdminStore, name: string): 'discovery' | 'admin' | 'config' {
  if (store.discoveredClusters.has(name)) return 'discovery'
  if (store.entry(resourceKey('cluster', name)) !== undefined) return 'admin'
  return 'config'
}

/**
 * The revision of the resource a cluster comes from: its own PUT, else (a discovered
 * `<app>:<protocol>`) the app's push or the newest interface-level push for that app, else 0.
 */
function clusterRevision (store: AdminStore, name: string): number {
  const own = store.entry(resourceKey('cluster', name))
  if (own !== undefined) return own.revision
  if (!store.discoveredClusters.has(name)) return 0
  const app = name.replace(/:(triple|bolt)$/, '')
  let rev = store.entry(resourceKey('app', app))?.revision ?? 0
  for (const [k, e] of store.entries()) {
    if (k.startsWith('service/') && (e.value as { app?: string } | null)?.app === app && e.revision > rev) rev = e.revision
  }
  return rev
}

/** `<app>:<protocol>` (or a bare app name, meaning its Triple cluster) of a pushed app. */
function discoveredTarget (store: AdminStore, name: string): { app: string, protocol: DiscoveryProtocol } | null {
  const m = /^(.*):(triple|bolt)$/.exec(name)
  const app = m === null ? name : m[1]
  const protocol = (m === null ? 'triple' : m[2]) as DiscoveryProtocol
  if (store.entry(resourceKey('app', app))?.value != null) return { app, protocol }
  if (m !== null && store.discoveredClusters.has(name)) return { app, protocol }
  return null
}

function listKind (store: AdminStore, prefix: string): Array<{ name: string, revision: number }> {
  const out: Array<{ name: string, revision: number }> = []
  for (const [k, e] of store.entries()) if (k.startsWith(prefix) && e.value !== null) out.push({ name: k.slice(prefix.length), revision: e.revision })
  return out
}

function readResource (store: AdminStore, key: string, what: string): AdminReply {
  const e = store.entry(key)
  if (e === undefined || e.value === null) notFound(what)
  return { status: 200, body: { revision: e.revision, ...(e.value as object) } }
}

export type { Validator }
