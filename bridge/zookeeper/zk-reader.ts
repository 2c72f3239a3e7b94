/**
 * Reads SOFARPC providers from ZooKeeper and watches them. Two layouts exist in the wild:
 *
 * - java: Java SOFARPC, `{root}sofa-rpc/{interfaceId}/providers/{URL-encoded provider URL}`
 *   (root `/` by default).
 * - node: sofa-rpc-node, `{root}{interface}/providers/...` (its default root `/sofa-rpc/` is
 *   the same tree as Java's with root `/`; the layouts differ when a root is configured).
 *
 * `auto` picks java when `{root}sofa-rpc` exists, else node when a child of the root has a
 * `providers` node, and waits (watching the root) while neither exists.
 *
 * Every full read (the first connect, a reconnect, a new session after expiry) is collected
 * into a fresh view and handed over whole; reads started by watches meanwhile land in that
 * view, so the bridge never pushes a half-read registry. While the session is disconnected
 * nothing changes in the bridge's view: the gateway keeps the last known state.
 */
import zookeeper, { type Client, type Event } from 'node-zookeeper-client'
import type { Logger } from 'pino'
import type { BridgeMetrics } from '../metrics.js'
import type { Provider } from '../model.js'
import { parseProviderNode, type ProviderMapping } from './provider-url.js'

export type Layout = 'java' | 'node'

export interface ZkReaderOptions {
  /** host:port[,host:port][/chroot] */
  connect: string
  /** Registry root, starting and ending with '/'. */
  root: string
  layout: 'auto' | Layout
  sessionTimeoutMs: number
  /** The service filter: only these interfaces are read and watched. */
  accept (service: string): boolean
  mapping: ProviderMapping
  logger: Logger
  metrics: BridgeMetrics
  /** A full read finished. */
  onAll (all: Map<string, Provider[]>, reason: 'start' | 'zookeeper'): void
  /** A watched service changed. */
  onService (service: string, providers: Provider[]): void
}

/** Interface ids as Java and sofa-rpc-node write them; anything else is skipped. */
const SERVICE_RE = /^[A-Za-z0-9_$][A-Za-z0-9_$.-]{0,254}$/
const PROVIDERS = '/providers'
const RETRY_MS = 1000

type Children = string[] | null

export class ZkReader {
  readonly #o: ZkReaderOptions
  readonly #log: Logger
  #client: Client | null = null
  /** Bumped for every client and every full read: older results are ignored. */
  #gen = 0
  #pending = 0
  #layout: Layout | null = null
  #servicesRoot: string | null = null
  /** Set while a full read runs: reads land here instead of going to onService. */
  #collect: Map<string, Provider[]> | null = null
  /** Services currently watched. */
  #watched = new Set<string>()
  #synced = false
  /** The services root changed during a full read. */
  #rootDirty = false
  #retry: NodeJS.Timeout | null = null
  #closed = false
  /** Bad nodes already counted and logged (each once). */
  readonly #seenBad = new Set<string>()
  readonly #onWatch = (e: Event): void => { this.#watchFired(e) }

  constructor (o: ZkReaderOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'zookeeper' })
  }

  get layout (): Layout | null { return this.#layout }
  get servicesRoot (): string | null { return this.#servicesRoot }
  /** Reads in flight (the coalescer waits for them) or a full read running. */
  busy (): boolean { return this.#pending > 0 || this.#collect !== null }

  start (): void {
    if (this.#closed) return
    const client = zookeeper.createClient(this.#o.connect, { sessionTimeout: this.#o.sessionTimeoutMs, spinDelay: 500, retries: 0 })
    this.#client = client
    this.#gen++
    // The client reports through states; an 'error' event would otherwise end the process.
    ;(client as unknown as NodeJS.EventEmitter).on('error', (err: Error) => { this.#log.warn({ err: err.message }, 'zookeeper client error') })
    client.on('state', (s: zookeeper.State) => { this.#onState(client, s) })
    client.connect()
  }

  close (): void {
    this.#closed = true
    if (this.#retry !== null) clearTimeout(this.#retry)
    this.#client?.close()
    this.#client = null
    this.#o.metrics.zkConnected = 0
  }

  #onState (client: Client, s: zookeeper.State): void {
    if (this.#closed || client !== this.#client) return
    const S = zookeeper.State
    if (s === S.SYNC_CONNECTED || s === S.CONNECTED_READ_ONLY) {
      this.#o.metrics.zkConnected = 1
      this.#log.info({ connect: this.#o.connect, readOnly: s === S.CONNECTED_READ_ONLY }, this.#synced ? 'zookeeper session back; full resync' : 'zookeeper connected')
      void this.#readAll(this.#synced ? 'zookeeper' : 'start')
    } else if (s === S.DISCONNECTED) {
      this.#o.metrics.zkConnected = 0
      this.#log.warn('zookeeper disconnected; keeping the last known providers until the session is back')
    } else if (s === S.EXPIRED) {
      this.#o.metrics.zkConnected = 0
      this.#log.warn('zookeeper session expired; opening a new one (the last known providers stay until it is read whole)')
      client.close()
      this.#collect = null
      this.start()
    } else if (s === S.AUTH_FAILED) {
      this.#o.metrics.zkConnected = 0
      this.#log.error('zookeeper authentication failed')
    }
  }

  /** Read the whole registry into a fresh view, then hand it over. */
  async #readAll (reason: 'start' | 'zookeeper'): Promise<void> {
    const client = this.#client
    if (client === null) return
    const gen = ++this.#gen
    const all = new Map<string, Provider[]>()
    this.#collect = all
    try {
      if (this.#servicesRoot === null || this.#o.layout === 'auto') await this.#detect(client)
      if (gen !== this.#gen) return
      const services = new Set<string>()
      // The services root may change while it is read: list it again until it holds still.
      while (this.#servicesRoot !== null) {
        this.#rootDirty = false
        const children = await this.#children(client, dirPath(this.#servicesRoot), true)
        if (gen !== this.#gen) return
        const fresh = this.#filter(children ?? []).filter(s => !services.has(s))
        for (const s of fresh) services.add(s)
        await Promise.all(fresh.map(s => this.#readService(client, s)))
        if (gen !== this.#gen) return
        if (!this.#rootDirty) {
          const listed = new Set(this.#filter(children ?? []))
          for (const s of services) if (!listed.has(s)) { services.delete(s); all.delete(s) }
          break
        }
      }
      if (gen !== this.#gen || this.#collect !== all) return
      this.#collect = null
      this.#watched = services
      // Services whose providers node does not exist (yet) are empty.
      for (const s of services) if (!all.has(s)) all.set(s, [])
      for (const s of [...all.keys()]) if (!services.has(s)) all.delete(s)
      this.#synced = true
      this.#o.onAll(all, reason)
    } catch (err) {
      if (gen !== this.#gen) return
      this.#collect = null
      const code = (err as { code?: number }).code
      // A lost connection brings a new SYNC_CONNECTED (and so another full read); retry others.
      if (code === zookeeper.Exception.CONNECTION_LOSS || code === zookeeper.Exception.SESSION_EXPIRED) return
      this.#log.warn({ err: (err as Error).message }, 'zookeeper read failed; retrying')
      this.#retry = setTimeout(() => { this.#retry = null; void this.#readAll(reason) }, RETRY_MS)
    }
  }

  async #detect (client: Client): Promise<void> {
    const root = this.#o.root
    let layout: Layout | null = this.#o.layout === 'auto' ? null : this.#o.layout
    if (layout === null) {
      if (await this.#exists(client, root + 'sofa-rpc', false)) layout = 'java'
      else {
        const children = (await this.#children(client, dirPath(root), false)) ?? []
        const candidates = children.filter(c => c !== 'zookeeper' && SERVICE_RE.test(c)).slice(0, 64)
        const found = await Promise.all(candidates.map(c => this.#exists(client, root + c + PROVIDERS, false)))
        if (found.some(Boolean)) layout = 'node'
      }
    }
    if (layout === null) {
      // Nothing registered yet: watch the root and detect again when it changes.
      await this.#children(client, dirPath(root), true)
      if (this.#layout === null) this.#log.info({ root }, 'no providers under the root yet; waiting to detect the layout')
      return
    }
    const servicesRoot = layout === 'java' ? root + 'sofa-rpc/' : root
    if (layout !== this.#layout || servicesRoot !== this.#servicesRoot) {
      this.#layout = layout
      this.#servicesRoot = servicesRoot
      this.#log.info({ layout, servicesRoot, pattern: `${servicesRoot}{interface}/providers` }, 'registry layout')
    }
  }

  #filter (children: readonly string[]): string[] {
    const out: string[] = []
    let filtered = 0
    for (const c of children) {
      if (!SERVICE_RE.test(c)) { this.#bad(`service:${c}`, 'bad-service', { service: c.slice(0, 200) }); continue }
      if (this.#o.accept(c)) out.push(c); else filtered++
    }
    this.#o.metrics.filtered = filtered
    return out
  }

  async #readService (client: Client, service: string): Promise<void> {
    const gen = this.#gen
    const path = this.#servicesRoot + service + PROVIDERS
    let nodes = await this.#children(client, path, true)
    if (nodes === null) {
      // No providers node yet: be told when it appears.
      const now = await this.#exists(client, path, true)
      if (now) nodes = await this.#children(client, path, true)
    }
    const providers: Provider[] = []
    for (const n of nodes ?? []) {
      const p = parseProviderNode(service, n, this.#o.mapping)
      if (typeof p === 'string') this.#bad(`${service}/${n}`, p, { service, node: n.slice(0, 200) })
      else providers.push(p)
    }
    if (this.#collect !== null) { this.#collect.set(service, providers); return }
    if (gen !== this.#gen || !this.#watched.has(service)) return
    this.#o.onService(service, providers)
  }

  #watchFired (e: Event): void {
    if (this.#closed) return
    this.#o.metrics.watchEvents++
    const client = this.#client
    if (client === null) return
    const path = e.getPath()
    const sr = this.#servicesRoot
    if (sr !== null && path.startsWith(sr) && path.endsWith(PROVIDERS)) {
      const service = path.slice(sr.length, -PROVIDERS.length)
      if (this.#watched.has(service) || this.#collect !== null) void this.#readService(client, service).catch(err => this.#readFailed(err))
      return
    }
    if (sr !== null && path === dirPath(sr)) { void this.#readRoot(client).catch(err => this.#readFailed(err)); return }
    // The root changed before a layout was found (or the services root came or went).
    if (this.#collect === null) void this.#readAll('zookeeper')
  }

  /** The list of services changed: read new ones, empty the ones that went away. */
  async #readRoot (client: Client): Promise<void> {
    if (this.#collect !== null) { this.#rootDirty = true; return }
    const children = await this.#children(client, dirPath(this.#servicesRoot!), true)
    if (this.#collect !== null) return
    const services = this.#filter(children ?? [])
    const next = new Set(services)
    for (const s of this.#watched) if (!next.has(s)) { this.#watched.delete(s); this.#o.onService(s, []) }
    for (const s of services) {
      if (this.#watched.has(s)) continue
      this.#watched.add(s)
      void this.#readService(client, s).catch(err => this.#readFailed(err))
    }
  }

  #readFailed (err: unknown): void {
    const code = (err as { code?: number }).code
    if (code === zookeeper.Exception.CONNECTION_LOSS || code === zookeeper.Exception.SESSION_EXPIRED) return
    this.#log.warn({ err: (err as Error).message }, 'zookeeper read failed; full resync')
    void this.#readAll('zookeeper')
  }

  #bad (id: string, reason: Exclude<ReturnType<typeof parseProviderNode>, Provider> | 'bad-service', detail: Record<string, string>): void {
    if (this.#seenBad.has(id)) return
    if (this.#seenBad.size > 100000) this.#seenBad.clear()
    this.#seenBad.add(id)
    this.#o.metrics.skipped[reason]++
    this.#log.warn({ reason, ...detail }, 'provider node skipped')
  }

  /** getChildren, null when the node does not exist. */
  #children (client: Client, path: string, watch: boolean): Promise<Children> {
    this.#pending++
    return new Promise<Children>((resolve, reject) => {
      const done = (err: Error | zookeeper.Exception | null, children: string[]): void => {
        this.#pending--
        if (err === null) resolve(children)
        else if ((err as zookeeper.Exception).getCode?.() === zookeeper.Exception.NO_NODE) resolve(null)
        else reject(err)
      }
      if (watch) client.getChildren(path, this.#onWatch, done)
      else client.getChildren(path, done)
    })
  }

  #exists (client: Client, path: string, watch: boolean): Promise<boolean> {
    this.#pending++
    return new Promise<boolean>((resolve, reject) => {
      const done = (err: Error | zookeeper.Exception | null, stat: zookeeper.Stat): void => {
        this.#pending--
        if (err === null) resolve(stat !== null && stat !== undefined)
        else reject(err)
      }
      if (watch) client.exists(path, this.#onWatch, done)
      else client.exists(path, done)
    })
  }
}

/** '/a/b/' -> '/a/b'; '/' stays. */
function dirPath (dir: string): string {
  return dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir
}
