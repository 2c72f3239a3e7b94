/**
 * A registry bridge: registry view -> catalog -> coalesced flushes -> pusher. The registry
 * reader (one per registry kind) calls `replaceAll` after every full read (start, session
 * back) and `setService` for each watched change; nothing is pushed before the first full
 * read, so a partial view never reaches the gateway. Failed pushes come back with back-off;
 * the admin's state is re-checked on a timer and whenever it was unreachable.
 */
import type { Logger } from 'pino'
import { Catalog } from './catalog.js'
import { Backoff, Coalescer } from './coalescer.js'
import type { BridgeMetrics, ResyncReason } from './metrics.js'
import type { Provider } from './model.js'
import type { Pusher } from './pusher.js'

/** A flush key that only runs the admin resync (the periodic verify). */
const VERIFY = '\u0000verify'

export interface BridgeOptions {
  pusher: Pusher
  metrics: BridgeMetrics
  logger: Logger
  coalesceMs: number
  /** Cap of the coalescing window while reads are still in flight. */
  maxCoalesceMs: number
  retryBaseMs: number
  retryMaxMs: number
  /** Re-check the admin's revisions this often (0: only after failures). */
  verifyIntervalMs: number
  /** Reads in flight in the registry reader (the coalescer waits for them). */
  busy (): boolean
  /** Pushes in parallel within one flush. */
  concurrency?: number
}

export class Bridge {
  readonly catalog = new Catalog()
  readonly #o: BridgeOptions
  readonly #log: Logger
  readonly #coalescer: Coalescer
  readonly #backoff: Backoff
  readonly #wakes = new Map<string, { at: number, timer: NodeJS.Timeout }>()
  #verify: NodeJS.Timeout | null = null
  /** The registry was read whole at least once. */
  #seeded = false
  /** The first flush after seeding succeeded. */
  #synced = false
  #closed = false

  constructor (o: BridgeOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'bridge' })
    this.#backoff = new Backoff(o.retryBaseMs, o.retryMaxMs)
    this.#coalescer = new Coalescer({
      delayMs: o.coalesceMs,
      maxDelayMs: o.maxCoalesceMs,
      busy: o.busy,
      flush: keys => this.#flush(keys),
    })
    o.metrics.oldestPending = () => this.#coalescer.oldest()
    if (o.verifyIntervalMs > 0) {
      this.#verify = setInterval(() => this.#verifyNow(), o.verifyIntervalMs)
      this.#verify.unref()
    }
  }

  /** The registry was read whole (start, or a session came back): replace the view. */
  replaceAll (all: ReadonlyMap<string, readonly Provider[]>, reason: ResyncReason): void {
    const dirty = this.catalog.replaceAll(all)
    this.#o.metrics.providers = this.catalog.providerCount
    this.#o.metrics.services = all.size
    if (this.#seeded) this.#o.metrics.resyncs[reason]++
    this.#seeded = true
    this.#log.info({ reason, services: all.size, providers: this.catalog.providerCount, resources: dirty.length }, 'registry read whole')
    // Until the first flush succeeded, flush even an empty registry (the admin resync runs
    // and removes what this bridge pushed before that is gone now).
    this.#coalescer.mark(this.#synced ? dirty : [...dirty, VERIFY])
  }

  /** One service's providers changed (a watch fired). */
  setService (service: string, providers: readonly Provider[]): void {
    if (!this.#seeded) return
    const dirty = this.catalog.set(service, providers)
    this.#o.metrics.providers = this.catalog.providerCount
    this.#coalescer.mark(dirty)
  }

  /** True once the registry was read whole and pushed (the /ready probe). */
  get ready (): boolean { return this.#synced }
  get pending (): number { return this.#coalescer.pending }

  status (): Record<string, unknown> {
    const resources: Record<string, { revision: number | undefined }> = {}
    for (const k of this.catalog.keys()) resources[k] = { revision: this.#o.pusher.revisionOf(k) }
    const oldest = this.#coalescer.oldest()
    return {
      ready: this.#synced,
      providers: this.catalog.providerCount,
      pending: this.#coalescer.pending,
      lagMs: oldest === null ? 0 : Date.now() - oldest,
      lastRevision: this.#o.pusher.lastRevision,
      resources,
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#verify !== null) clearInterval(this.#verify)
    for (const w of this.#wakes.values()) clearTimeout(w.timer)
    await this.#coalescer.close()
  }

  #verifyNow (): void {
    if (!this.#seeded || this.#closed) return
    this.#o.pusher.markSuspect('verify')
    this.#coalescer.mark([VERIFY])
  }

  async #flush (keys: Map<string, number>): Promise<void> {
    if (!this.#seeded) return
    const p = this.#o.pusher
    keys.delete(VERIFY)
    try {
      if (p.suspect !== null) {
        const held = await p.resync()
        if (held === null) { this.#retry(keys, true); return }
        const now = Date.now()
        // Everything we want (in-sync keys cost no request) and everything the admin holds
        // that we no longer want (deleted when ours).
        for (const k of this.catalog.keys()) if (!keys.has(k)) keys.set(k, now)
        for (const k of held) if (!keys.has(k) && !p.isForeign(k)) keys.set(k, now)
      }
      const failed = new Map<string, number>()
      const queue = [...keys]
      const now = Date.now()
      let ambiguous = 0
      const worker = async (): Promise<void> => {
        for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
          const [key, at] = e
          const built = this.catalog.build(key, now)
          ambiguous += built.ambiguous
          this.#wake(key, built.wakeAt)
          const r = await p.push(key, built.resource)
          if (r === 'retry') failed.set(key, at)
        }
      }
      await Promise.all(Array.from({ length: Math.min(this.#o.concurrency ?? 8, Math.max(1, queue.length)) }, worker))
      if (ambiguous > 0 && this.#o.metrics.ambiguous !== ambiguous) this.#log.warn({ instances: ambiguous }, 'instances export only some variants of a service: the admin routes by service name')
      this.#o.metrics.ambiguous = ambiguous
      if (failed.size > 0) { this.#retry(failed, false); return }
      this.#backoff.reset()
      if (!this.#synced) { this.#synced = true; this.#log.info({ resources: keys.size }, 'in sync with the admin API') }
    } catch (err) {
      // A bug, not an outage: keep the keys and try again later rather than lose changes.
      this.#log.error({ err }, 'flush failed')
      this.#retry(keys, false)
    }
  }

  #retry (keys: Map<string, number>, resync: boolean): void {
    const delay = this.#backoff.fail()
    if (resync) this.#o.pusher.markSuspect('admin')
    // A failed resync with nothing else pending still needs its retry.
    if (keys.size === 0) keys.set(VERIFY, Date.now())
    for (const [k, at] of keys) this.#coalescer.mark([k], at, Date.now() + delay)
  }

  /** Rebuild a resource when a provider's warm-up ends (its weight steps up). */
  #wake (key: string, at: number | null): void {
    const cur = this.#wakes.get(key)
    if (cur !== undefined && cur.at === at) return
    if (cur !== undefined) { clearTimeout(cur.timer); this.#wakes.delete(key) }
    if (at === null || this.#closed) return
    const ms = Math.min(2 ** 31 - 1, Math.max(0, at - Date.now() + 1))
    const timer = setTimeout(() => { this.#wakes.delete(key); this.#coalescer.mark([key]) }, ms)
    timer.unref()
    this.#wakes.set(key, { at, timer })
  }
}
