/**
 * Sends the catalog's resources to the admin API, as small as is correct:
 *
 * - It remembers what the admin holds for each resource (the last accepted body and its
 *   revision). A change of an app's instances that only removes, adds or re-weighs hosts of
 *   one protocol, each exporting all of the app's services, is one incremental
 *   `PATCH /v1/clusters/<app>:<protocol>/hosts`; anything else is a full `PUT` of the app
 *   (`/v1/discovery/apps/<app>`) or service (`/v1/discovery/services/<service>`); a resource
 *   with nothing left is deleted.
 * - Revisions only grow: max(last + 1, now in ms), and above every revision the admin listed,
 *   so a restarted bridge still writes newer ones.
 * - When the admin's state is unknown (start, after it was unreachable, after a 409, on the
 *   periodic verify) a resync lists the admin's discovery resources with their revisions:
 *   a resource whose revision is not the one we last wrote is read back and compared, and
 *   pushed whole when it differs. A PATCH is only ever sent onto a state we know.
 * - A resource the admin holds that the registry no longer has is deleted when its hosts
 *   carry this bridge's owner label; resources written by anyone else are left alone.
 */
import type { Logger } from 'pino'
import { AdminUnavailable, adminMessage, type AdminClient, type AdminReply } from './admin-client.js'
import type { AppResource, InstanceBody, Resource, ServiceBody, ServiceResource } from './catalog.js'
import type { BridgeMetrics, PushKind, ResyncReason } from './metrics.js'
import { instanceId } from './model.js'

export type PushOutcome = 'ok' | 'retry'

interface Known {
  revision: number
  /** Null: the admin holds nothing for this key (deleted or never written). */
  resource: Resource | null
}

export interface PusherOptions {
  client: AdminClient
  logger: Logger
  metrics: BridgeMetrics
  ownerLabel: readonly [string, string]
}

export class Pusher {
  readonly #o: PusherOptions
  readonly #log: Logger
  readonly #known = new Map<string, Known>()
  /** Revisions the last resync listed (key -> revision); null until one ran. */
  #listed: Map<string, number> | null = null
  /** Keys the admin holds that are not ours (no owner label): never deleted. */
  readonly #foreign = new Set<string>()
  #lastRevision = 0
  #suspect: ResyncReason | null = 'start'
  /** Rejections already logged (key + message), so a retry loop logs once. */
  readonly #logged = new Set<string>()

  constructor (o: PusherOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'pusher' })
  }

  /** A resync must run before the next push (and why). */
  get suspect (): ResyncReason | null { return this.#suspect }
  markSuspect (reason: ResyncReason): void { if (this.#suspect === null) this.#suspect = reason }
  get lastRevision (): number { return this.#lastRevision }
  revisionOf (key: string): number | undefined { return this.#known.get(key)?.revision }

  #nextRevision (): number {
    this.#lastRevision = Math.max(this.#lastRevision + 1, Date.now())
    return this.#lastRevision
  }

  /**
   * List the admin's discovery resources. Returns the keys it holds (to check for stale ones),
   * or null when the admin cannot be reached (the resync stays pending).
   */
  async resync (): Promise<string[] | null> {
    const reason = this.#suspect ?? 'verify'
    let apps: AdminReply
    let services: AdminReply
    try {
      apps = await this.#o.client.send('GET', '/v1/discovery/apps')
      services = await this.#o.client.send('GET', '/v1/discovery/services')
    } catch (err) {
      this.#unavailable(err)
      return null
    }
    if (apps.status !== 200 || services.status !== 200) {
      const bad = apps.status !== 200 ? apps : services
      this.#countError(bad)
      this.#log.warn({ status: bad.status, error: adminMessage(bad) }, 'admin resync: cannot list discovery resources')
      return null
    }
    const listed = new Map<string, number>()
    for (const [prefix, body, field] of [['app/', apps.body, 'apps'], ['service/', services.body, 'services']] as const) {
      const list = (body as Record<string, unknown> | undefined)?.[field]
      if (!Array.isArray(list)) continue
      for (const e of list as Array<{ name?: unknown, revision?: unknown }>) {
        if (typeof e?.name === 'string' && typeof e.revision === 'number' && Number.isSafeInteger(e.revision)) listed.set(prefix + e.name, e.revision)
      }
    }
    let dropped = 0
    for (const [key, k] of this.#known) {
      const rev = listed.get(key)
      const same = k.resource === null ? (rev === undefined || rev === k.revision) : rev === k.revision
      if (!same) { this.#known.delete(key); dropped++ }
    }
    for (const rev of listed.values()) if (rev > this.#lastRevision) this.#lastRevision = rev
    this.#listed = listed
    this.#suspect = null
    this.#o.metrics.resyncs[reason]++
    this.#log.info({ reason, adminResources: listed.size, unknown: dropped }, 'admin resync')
    return [...listed.keys()]
  }

  /** Bring one resource to `desired` (null: remove it). */
  async push (key: string, desired: Resource | null): Promise<PushOutcome> {
    try {
      return await this.#push(key, desired)
    } catch (err) {
      if (err instanceof AdminUnavailable) { this.#unavailable(err); return 'retry' }
      throw err
    }
  }

  async #push (key: string, desired: Resource | null): Promise<PushOutcome> {
    let known = this.#known.get(key)
    if (known === undefined) {
      known = await this.#learn(key, desired)
      if (known === undefined) return 'retry'
    }
    if (desired === null) {
      if (known.resource === null) return 'ok'
      return this.#delete(key)
    }
    if (known.resource !== null && canonical(known.resource) === canonical(desired)) return 'ok'
    const patch = known.resource?.kind === 'app' && desired.kind === 'app' ? planPatch(known.resource, desired) : null
    if (patch !== null) {
      const revision = this.#nextRevision()
      const r = await this.#o.client.send('PATCH', `/v1/clusters/${encodeURIComponent(`${desired.name}:${patch.protocol}`)}/hosts`, { revision, remove: patch.remove, add: patch.add })
      if (r.status === 404) {
        // The admin lost the app (restarted without state): push it whole.
        this.#known.delete(key)
        this.#o.metrics.pushErrors['not-found']++
        this.markSuspect('admin')
        return 'retry'
      }
      return this.#accepted(key, r, revision, desired, 'patch')
    }
    const revision = this.#nextRevision()
    const r = desired.kind === 'app'
      ? await this.#o.client.send('PUT', `/v1/discovery/apps/${encodeURIComponent(desired.name)}`, { revision, instances: desired.instances, services: desired.services })
      : await this.#o.client.send('PUT', `/v1/discovery/services/${encodeURIComponent(desired.name)}`, serviceBody(desired, revision))
    return this.#accepted(key, r, revision, desired, desired.kind)
  }

  /**
   * What the admin holds for a key we have no record of: nothing when the last listing did
   * not have it; else read it back (so an identical resource is not pushed again, and a
   * stale one is only deleted when it is ours).
   */
  async #learn (key: string, desired: Resource | null): Promise<Known | undefined> {
    const listedRev = this.#listed?.get(key)
    if (listedRev === undefined) {
      const k: Known = { revision: 0, resource: null }
      this.#known.set(key, k)
      return k
    }
    const r = await this.#o.client.send('GET', `/v1/discovery/${key.startsWith('app/') ? 'apps' : 'services'}/${encodeURIComponent(key.slice(key.indexOf('/') + 1))}`)
    if (r.status === 404) {
      const k: Known = { revision: 0, resource: null }
      this.#known.set(key, k)
      return k
    }
    if (r.status !== 200) { this.#countError(r); return undefined }
    const held = fromAdmin(key, r.body)
    const revision = typeof (r.body as { revision?: unknown }).revision === 'number' ? (r.body as { revision: number }).revision : listedRev
    if (revision > this.#lastRevision) this.#lastRevision = revision
    if (desired === null && (held === null || !this.#owns(held))) {
      // Not ours: leave it, and do not look at it again.
      this.#foreign.add(key)
      const k: Known = { revision, resource: null }
      this.#known.set(key, k)
      return k
    }
    const k: Known = { revision, resource: held }
    this.#known.set(key, k)
    return k
  }

  #owns (r: Resource): boolean {
    const [lk, lv] = this.#o.ownerLabel
    const list = r.kind === 'app' ? r.instances : r.providers
    return list.some(i => i.labels?.[lk] === lv)
  }

  async #delete (key: string): Promise<PushOutcome> {
    const revision = this.#nextRevision()
    const path = `/v1/discovery/${key.startsWith('app/') ? 'apps' : 'services'}/${encodeURIComponent(key.slice(key.indexOf('/') + 1))}?revision=${revision}`
    const r = await this.#o.client.send('DELETE', path)
    if (r.status === 404) {
      this.#known.set(key, { revision, resource: null })
      return 'ok'
    }
    return this.#accepted(key, r, revision, null, 'delete')
  }

  #accepted (key: string, r: AdminReply, revision: number, desired: Resource | null, kind: PushKind): PushOutcome {
    if (r.status === 200) {
      this.#known.set(key, { revision, resource: desired })
      this.#o.metrics.pushes[kind]++
      this.#o.metrics.pushBytes += r.sent
      this.#logged.delete(key)
      this.#log.debug({ key, kind, revision, bytes: r.sent }, 'pushed')
      return 'ok'
    }
    this.#countError(r)
    if (r.status === 409) {
      // Someone wrote a newer revision (another bridge, an operator, a replayed state):
      // forget what we thought the admin holds and resync before the retry.
      this.#known.delete(key)
      this.markSuspect('conflict')
      this.#log.warn({ key, revision, error: adminMessage(r) }, 'admin refused a stale revision; resyncing')
      return 'retry'
    }
    const msg = adminMessage(r)
    if (r.status === 400 || r.status === 413) {
      if (!this.#logged.has(key + msg)) {
        this.#logged.add(key + msg)
        this.#log.error({ key, kind, status: r.status, error: msg, path: (r.body as { error?: { path?: string } } | undefined)?.error?.path }, 'admin rejected a push; retrying with back-off')
      }
      return 'retry'
    }
    if (r.status >= 500 || r.status === 401 || r.status === 403) this.markSuspect('admin')
    this.#log.warn({ key, kind, status: r.status, error: msg }, 'push failed; retrying with back-off')
    return 'retry'
  }

  #countError (r: AdminReply): void {
    const e = this.#o.metrics.pushErrors
    if (r.status === 409) e.conflict++
    else if (r.status === 404) e['not-found']++
    else if (r.status === 401 || r.status === 403) e.unauthorized++
    else if (r.status >= 500) e.unavailable++
    else e.rejected++
  }

  #unavailable (err: unknown): void {
    this.#o.metrics.pushErrors.unavailable++
    if (this.#suspect === null) this.#log.warn({ err: (err as Error).message }, 'admin API unreachable; retrying with back-off')
    this.markSuspect('admin')
  }

  isForeign (key: string): boolean { return this.#foreign.has(key) }
}

function serviceBody (s: ServiceResource, revision: number): Record<string, unknown> {
  const b: Record<string, unknown> = { revision, app: s.app, providers: s.providers }
  if (s.version !== undefined) b.version = s.version
  if (s.group !== undefined) b.group = s.group
  return b
}

export interface PatchPlan {
  protocol: 'bolt' | 'triple'
  remove: Array<{ address: string, port: number }>
  add: Array<{ address: string, port: number, zone?: string, labels: Record<string, string>, weight: number }>
}

/**
 * The incremental host change from `held` to `next`, or null when only a full push is
 * correct: the services changed, hosts of both protocols changed, or an added or changed
 * host exports only some services (a PATCH-added instance exports all of them).
 */
export function planPatch (held: AppResource, next: AppResource): PatchPlan | null {
  if (canonicalServices(held.services) !== canonicalServices(next.services)) return null
  const before = new Map(held.instances.map(i => [instanceId(i, i.protocols[0]), i]))
  const after = new Map(next.instances.map(i => [instanceId(i, i.protocols[0]), i]))
  const remove: PatchPlan['remove'] = []
  const add: PatchPlan['add'] = []
  const protocols = new Set<string>()
  for (const [id, i] of before) {
    const n = after.get(id)
    if (n !== undefined && canonicalInstance(n) === canonicalInstance(i)) continue
    remove.push({ address: i.address, port: i.port })
    protocols.add(i.protocols[0])
  }
  for (const [id, n] of after) {
    const i = before.get(id)
    if (i !== undefined && canonicalInstance(n) === canonicalInstance(i)) continue
    if (n.services !== undefined) return null
    const h: PatchPlan['add'][number] = { address: n.address, port: n.port, labels: n.labels, weight: n.weight }
    if (n.zone !== undefined) h.zone = n.zone
    add.push(h)
    protocols.add(n.protocols[0])
  }
  if (protocols.size !== 1 || next.instances.length === 0) return null
  // A PATCH that re-sends most hosts is no smaller than the app itself.
  if (remove.length + add.length > Math.max(8, next.instances.length)) return null
  return { protocol: [...protocols][0] as PatchPlan['protocol'], remove, add }
}

function canonicalInstance (i: InstanceBody): string {
  const labels = Object.keys(i.labels ?? {}).sort().map(k => [k, i.labels[k]])
  return JSON.stringify([i.address, i.port, i.protocols, i.zone ?? null, labels, i.weight ?? 1, i.services === undefined ? null : [...i.services].sort()])
}

function canonicalServices (s: readonly ServiceBody[]): string {
  return JSON.stringify(s.map(x => [x.name, x.version ?? '', x.group ?? '']).sort())
}

/** Order-free form of a resource, to compare what the admin holds with what we want. */
export function canonical (r: Resource): string {
  if (r.kind === 'app') return 'app' + JSON.stringify([r.instances.map(canonicalInstance).sort(), canonicalServices(r.services)])
  return 'service' + JSON.stringify([r.app, r.version ?? '', r.group ?? '', r.providers.map(canonicalInstance).sort()])
}

/** A resource as GET /v1/discovery/... returned it (null when it does not fit our model). */
export function fromAdmin (key: string, body: unknown): Resource | null {
  const b = body as Record<string, unknown> | null
  if (b === null || typeof b !== 'object') return null
  const name = key.slice(key.indexOf('/') + 1)
  const instances = (list: unknown): InstanceBody[] | null => {
    if (!Array.isArray(list)) return null
    const out: InstanceBody[] = []
    for (const x of list as Array<Record<string, unknown>>) {
      const protocols = Array.isArray(x.protocols) ? x.protocols as string[] : ['triple']
      if (typeof x.address !== 'string' || typeof x.port !== 'number' || protocols.length !== 1 || x.ports !== undefined) return null
      const i: InstanceBody = {
        address: x.address, port: x.port, protocols: [protocols[0] as 'bolt' | 'triple'],
        labels: (x.labels ?? {}) as Record<string, string>, weight: typeof x.weight === 'number' ? x.weight : 1,
      }
      if (typeof x.zone === 'string') i.zone = x.zone
      if (Array.isArray(x.services)) i.services = x.services as string[]
      out.push(i)
    }
    return out
  }
  if (key.startsWith('app/')) {
    const inst = instances(b.instances)
    if (inst === null) return null
    return { kind: 'app', name, instances: inst, services: (Array.isArray(b.services) ? b.services : []) as ServiceBody[] }
  }
  const providers = instances(b.providers)
  if (providers === null || typeof b.app !== 'string') return null
  const s: { -readonly [K in keyof ServiceResource]: ServiceResource[K] } = { kind: 'service', name, app: b.app, providers }
  if (typeof b.version === 'string' && b.version !== '') s.version = b.version
  if (typeof b.group === 'string' && b.group !== '') s.group = b.group
  return s
}
