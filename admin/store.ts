/**
 * The admin config store: base options (config file) plus resources pushed through the
 * admin API, each with a revision. A write is checked against the revision rule (older than
 * stored -> 409), turned into effective options, validated and compiled off the hot path,
 * and only then swapped in (one `apply(snapshot)`), persisted and replicated. Writes run one
 * at a time, so each is atomic: calls see the old snapshot or the new one.
 */
import type { Logger } from 'pino'
import type { GatewayOptions } from '../gateway/config/options.js'
import { droppedHosts } from '../gateway/config/compile.js'
import { checkSemantics } from '../gateway/config/load.js'
import type { Snapshot } from '../gateway/config/snapshot.js'
import type { HostRegistry } from '../gateway/cluster/host.js'
import { IsthmusError } from '../gateway/errors.js'
import { EffectiveBuilder, type BuildWork, type Effective, type NameSet } from './effective.js'
import { Slicer } from './slicer.js'
import { StateJournal, validRevision, type CorruptStatePolicy, type ResourceEntry } from './state-file.js'
import { MAX_REVISION } from './discovery/schema.js'
import { ChunkedMap } from '../gateway/util/chunked-map.js'
import { CONFIG_FILE_KEY, ConfigHistory, type HistoryChange } from './console/history.js'

export type { ResourceEntry } from './state-file.js'

/**
 * Compile effective options into a snapshot (throws ISTH_ERR_CONFIG_INVALID with a path).
 * `previous` is the store's live snapshot: pass it to compileSnapshot so unchanged clusters,
 * routes and filters are reused (a one-host delta then touches one cluster).
 */
export type CompileFn = (options: GatewayOptions, revision: number, previous?: Snapshot) => Promise<Snapshot>

/** The replication side the store talks to (admin/replication.ts). */
export interface StoreReplicator {
  /** Push local entries newer than Redis; return remote entries newer than local. */
  reconcile (local: ReadonlyMap<string, ResourceEntry>): Promise<Map<string, ResourceEntry>>
  /** Write-through one accepted entry; returns the remote entry when Redis holds a newer
   *  (or equal, different) one, null when ours was stored or Redis is unreachable. */
  publish (key: string, entry: ResourceEntry): Promise<ResourceEntry | null>
  close (): Promise<void>
}

export interface AdminStoreOpenOptions {
  baseOptions: Readonly<GatewayOptions>
  /** Persisted state file; undefined keeps state in memory only. */
  statePath?: string
  onCorruptState?: CorruptStatePolicy
  logger: Logger
  nodeId: string
  compile: CompileFn
  /**
   * Swap the live snapshot (called for every accepted change after open). A multi-worker
   * primary returns a promise: the change is accepted only when it resolves (every worker
   * applied `generation`); a rejection rejects the write and the store keeps its state.
   */
  apply (snapshot: Snapshot, options: Readonly<GatewayOptions>, generation: number): void | Promise<void>
  /** Host ids no cluster of the new snapshot uses any more (pools close gracefully). */
  onHostsDropped? (ids: string[]): void
  /** The registry compile interns hosts in; dropped hosts are released from it. */
  hosts?: HostRegistry
  /** Replication factory (admin/replication.ts); called once the local state is loaded. */
  replicator? (store: AdminStore): StoreReplicator
  /** Accepted changes the config history keeps (default 50). */
  historyRecords?: number
}

export interface WriteResult {
  key: string
  revision: number
  /** False when the same revision with the same content was already stored (replay). */
  changed: boolean
  /** Snapshot revision now live. */
  generation: number
}

export interface WriteOptions {
  /** Rewrite error paths of the effective config into the request body's paths. */
  rebasePath? (path: string): string | undefined
  /** Who asks (the config history records it): `token`, `cert <identity>`, `loopback`. */
  who?: string
}

export class AdminStore {
  readonly nodeId: string
  readonly #o: AdminStoreOpenOptions
  readonly #log: Logger
  /** Every stored resource; immutable, and a write copies only the part of it that changes
   *  (2,000 apps: a Map copy per write was the biggest cost left after the compile). */
  #resources: ChunkedMap<ResourceEntry>
  #base: Readonly<GatewayOptions>
  #builder: EffectiveBuilder
  #effective: Effective
  #snapshot: Snapshot
  #generation: number
  #tail: Promise<unknown> = Promise.resolve()
  #replicator: StoreReplicator | null = null
  #journal: StateJournal | null = null
  #closed = false
  /** The last accepted changes, with who/when and the values before and after. */
  readonly history: ConfigHistory

  private constructor (o: AdminStoreOpenOptions, resources: ChunkedMap<ResourceEntry>, builder: EffectiveBuilder, effective: Effective, snapshot: Snapshot, generation: number) {
    this.#o = o
    this.#base = o.baseOptions
    this.nodeId = o.nodeId
    this.#log = o.logger.child({ component: 'admin-store' })
    this.#resources = resources
    this.#builder = builder
    this.#effective = effective
    this.#snapshot = snapshot
    this.#generation = generation
    this.history = new ConfigHistory(o.historyRecords)
    this.history.record({ generation, at: Date.now(), who: 'start', changes: [] })
  }

  /**
   * Load the state file, bootstrap from Redis when configured, compile the initial snapshot.
   * `apply` is not called for it: the caller installs `store.snapshot` before listening.
   */
  static async open (o: AdminStoreOpenOptions): Promise<AdminStore> {
    const log = o.logger.child({ component: 'admin-store' })
    let restored: ReadonlyMap<string, ResourceEntry> = new Map<string, ResourceEntry>()
    let journal: StateJournal | null = null
    if (o.statePath !== undefined) {
      const { journal: j, state: r } = await StateJournal.open({ path: o.statePath, nodeId: o.nodeId, onCorrupt: o.onCorruptState ?? 'fail', logger: log })
      journal = j
      if (r.movedAside !== undefined) log.error({ file: o.statePath, movedAside: r.movedAside, problem: r.problem }, 'admin state file is corrupt; moved aside, starting without it')
      restored = r.resources
      if (restored.size > 0) log.info({ file: o.statePath, resources: restored.size, journalRecords: r.journalRecords }, 'admin state restored')
    }
    const resources = ChunkedMap.from(restored)
    const builder = new EffectiveBuilder(o.baseOptions)
    let effective: Effective
    let snapshot: Snapshot
    try {
      effective = await builder.build(resources)
      checkSemantics(effective.options, effective)
      snapshot = await o.compile(effective.options, 1)
    } catch (err) {
      await journal?.close()
      // Only restored resources can make the state the culprit; without any, the config
      // itself (or a filter it loads) failed, and its error already says what and where.
      if (err instanceof IsthmusError && resources.size > 0) {
        throw new IsthmusError(err.code, `restored admin state${o.statePath === undefined ? '' : ` (${o.statePath})`} does not compile with this config: ${err.detail}`, err.path, { cause: err })
      }
      throw err
    }
    const store = new AdminStore(o, resources, builder, effective, snapshot, 1)
    store.#journal = journal
    if (o.replicator !== undefined) {
      store.#replicator = o.replicator(store)
      try {
        const remote = await store.#replicator.reconcile(resources)
        if (remote.size > 0) await store.#adoptAll(remote, false)
      } catch (err) {
        log.warn({ err }, 'redis bootstrap failed; serving local state, will reconcile when redis is back')
      }
    }
    return store
  }

  /** The config file's options (replaced by a config reload); pushed resources apply on top. */
  get baseOptions (): Readonly<GatewayOptions> { return this.#base }

  /**
   * Config reload: new base options under the same pushed resources, so the result is what a
   * restart with this file and this state would build. Validated, compiled and swapped like a
   * write (atomic; on error the running config stays). `changed: false` when the options equal
   * the current base.
   */
  rebase (options: Readonly<GatewayOptions>): Promise<{ changed: boolean, generation: number }> {
    return this.#serial(async () => {
      if (this.#closed) throw new IsthmusError('ISTH_ERR_GATEWAY_DRAINING', 'admin store is closed')
      if (JSON.stringify(options) === JSON.stringify(this.#base)) return { changed: false, generation: this.#generation }
      const builder = new EffectiveBuilder(options)
      await this.#install(this.#resources, true, null, builder)
      this.#builder = builder
      const before = this.#base
      this.#base = options
      this.history.record({ generation: this.#generation, at: Date.now(), who: 'config reload', changes: [{ key: CONFIG_FILE_KEY, revisionBefore: null, revisionAfter: null, before, after: options }] })
      return { changed: true, generation: this.#generation }
    })
  }

  /** The live compiled snapshot. */
  get snapshot (): Snapshot { return this.#snapshot }
  /** The effective options of the live snapshot. */
  get options (): Readonly<GatewayOptions> { return this.#effective.options }
  get discoveredClusters (): NameSet { return this.#effective.discovered }
  /** What the effective-options builder did so far (tests count per-push work). */
  get buildWork (): Readonly<BuildWork> { return this.#builder.work }
  get generation (): number { return this.#generation }

  entry (key: string): ResourceEntry | undefined { return this.#resources.get(key) }
  entries (): ReadonlyMap<string, ResourceEntry> { return this.#resources }

  /**
   * Change one resource. `next` gets the stored value (undefined when none) and returns the
   * new value, or null to delete. Revision rule: older than stored -> 409; equal -> no-op
   * when the content is the same, else 409.
   */
  write (key: string, revision: number, next: (current: unknown) => unknown, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.#serial(async () => {
      if (this.#closed) throw new IsthmusError('ISTH_ERR_GATEWAY_DRAINING', 'admin store is closed')
      // The schemas bound revisions already; this keeps any other caller from storing one
      // that nothing could ever be newer than.
      if (!validRevision(revision)) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/revision: must be an integer from 0 to ${MAX_REVISION}`, '/revision')
      const cur = this.#resources.get(key)
      if (cur !== undefined && revision < cur.revision) {
        throw new IsthmusError('ISTH_ERR_ADMIN_REVISION_CONFLICT', `${describeKey(key)}: revision ${revision} is older than the stored ${cur.revision}`, '/revision')
      }
      const value = next(cur?.value ?? undefined)
      if (cur !== undefined && revision === cur.revision) {
        if (JSON.stringify(value) === JSON.stringify(cur.value)) return { key, revision, changed: false, generation: this.#generation }
        throw new IsthmusError('ISTH_ERR_ADMIN_REVISION_CONFLICT', `${describeKey(key)}: revision ${revision} is already stored with other content; send a newer revision`, '/revision')
      }
      const entry: ResourceEntry = { revision, value, origin: this.nodeId, at: Date.now() }
      const prev = this.#resources.get(key)
      const resources = this.#resources.with([[key, entry]])
      try {
        await this.#install(resources, true, [key])
      } catch (err) {
        if (err instanceof IsthmusError && err.path !== undefined && opts.rebasePath !== undefined) {
          const p = opts.rebasePath(err.path)
          if (p !== undefined) throw new IsthmusError(err.code, err.detail.replace(err.path, p), p, { cause: err })
        }
        throw err
      }
      await this.#persist([{ key, entry, prev }])
      this.history.record({ generation: this.#generation, at: entry.at, who: opts.who ?? 'admin', changes: [historyChange(key, prev, entry)] })
      const result: WriteResult = { key, revision, changed: true, generation: this.#generation }
      if (this.#replicator !== null) {
        const winner = await this.#replicator.publish(key, entry).catch((err: unknown) => {
          this.#log.warn({ err, key }, 'redis write-through failed; will reconcile')
          return null
        })
        if (winner !== null) await this.#adoptAll(new Map([[key, winner]]), true)
      }
      return result
    })
  }

  /** Apply entries from Redis (pub/sub or reconciliation) that are newer than ours. */
  adoptRemote (entries: ReadonlyMap<string, ResourceEntry>): Promise<void> {
    return this.#serial(() => this.#adoptAll(entries, true))
  }

  /** Run a reconciliation with Redis now (the replicator calls this on reconnect). */
  reconcile (): Promise<void> {
    return this.#serial(async () => {
      if (this.#replicator === null || this.#closed) return
      const remote = await this.#replicator.reconcile(this.#resources)
      if (remote.size > 0) await this.#adoptAll(remote, true)
    })
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#tail.catch(() => {})
    if (this.#replicator !== null) await this.#replicator.close()
    await this.#journal?.close()
  }

  // Must run inside #serial.
  async #adoptAll (remote: ReadonlyMap<string, ResourceEntry>, apply: boolean): Promise<void> {
    const newer = new Map<string, ResourceEntry>()
    for (const [k, e] of remote) {
      if (!validRevision(e.revision)) { this.#log.warn({ key: k, revision: e.revision }, 'remote change ignored: its revision is out of range'); continue }
      const cur = this.#resources.get(k)
      // Redis is the arbiter: an equal revision with other content converges to Redis's copy.
      if (cur === undefined || e.revision > cur.revision || (e.revision === cur.revision && JSON.stringify(e.value) !== JSON.stringify(cur.value))) newer.set(k, e)
    }
    if (newer.size === 0) return
    const before = this.#resources
    const all = this.#resources.with(newer)
    try {
      await this.#install(all, apply, newer.keys())
    } catch (err) {
      // One bad entry must not block the others: apply them one at a time.
      this.#log.warn({ err, keys: [...newer.keys()] }, 'remote changes do not compile together; applying one by one')
      for (const [k, e] of newer) {
        const one = this.#resources.with([[k, e]])
        try { await this.#install(one, apply, [k]) } catch (e2) { this.#log.error({ err: e2, key: k, revision: e.revision }, 'remote change rejected: it does not compile here') }
      }
    }
    this.#log.info({ keys: [...newer.keys()] }, 'remote admin changes applied')
    const changes: Array<{ key: string, entry: ResourceEntry, prev: ResourceEntry | undefined }> = []
    for (const k of newer.keys()) {
      const e = this.#resources.get(k)
      if (e !== undefined && e !== before.get(k)) changes.push({ key: k, entry: e, prev: before.get(k) })
    }
    if (changes.length > 0) {
      const origins = [...new Set(changes.map(c => c.entry.origin))].slice(0, 3).join(', ')
      this.history.record({ generation: this.#generation, at: Date.now(), who: `redis ${origins}`, changes: changes.map(c => historyChange(c.key, c.prev, c.entry)) })
    }
    await this.#persist(changes)
  }

  /**
   * @param changed the keys `resources` changes relative to the live resources; null when
   * everything must be assembled again (a config reload changes the base under every entry).
   */
  async #install (resources: ChunkedMap<ResourceEntry>, apply: boolean, changed: Iterable<string> | null, builder = this.#builder): Promise<void> {
    // A full push is tens of ms per step: yield between steps so calls keep flowing.
    const slicer = new Slicer()
    const effective = await builder.build(resources, slicer, changed === null ? undefined : { from: this.#resources, changed: [...changed] })
    checkSemantics(effective.options, effective)
    await slicer.pause()
    const generation = this.#generation + 1
    const snapshot = await this.#o.compile(effective.options, generation, this.#snapshot)
    await slicer.pause()
    const old = this.#snapshot
    if (apply) {
      const pending = this.#o.apply(snapshot, effective.options, generation)
      if (pending !== undefined) await pending
    }
    this.#resources = resources
    this.#effective = effective
    this.#snapshot = snapshot
    this.#generation = generation
    this.#releaseHosts(old, snapshot)
  }

  #releaseHosts (old: Snapshot, next: Snapshot): void {
    const dropped = droppedHosts(old, next)
    if (dropped.length === 0) return
    this.#o.hosts?.forget(dropped)
    if (this.#o.onHostsDropped !== undefined) {
      try { this.#o.onHostsDropped(dropped.map(h => h.id)) } catch (err) { this.#log.error({ err }, 'onHostsDropped failed') }
    }
  }

  /** Journal the accepted changes (fsynced) before the admin answers. */
  async #persist (changes: ReadonlyArray<{ key: string, entry: ResourceEntry, prev: ResourceEntry | undefined }>): Promise<void> {
    if (this.#journal === null) return
    try {
      await this.#journal.append(changes, this.#resources)
    } catch (err) {
      this.#log.error({ err, file: this.#o.statePath }, 'cannot persist admin state')
      throw new IsthmusError('ISTH_ERR_INTERNAL', `change applied but not persisted to ${this.#o.statePath}: ${(err as Error).message}`)
    }
  }

  #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn)
    this.#tail = run.catch(() => {})
    return run
  }
}

/** `app/payments` -> `app payments`, as admin messages name resources. */
function historyChange (key: string, prev: ResourceEntry | undefined, entry: ResourceEntry): HistoryChange {
  return { key, revisionBefore: prev?.revision ?? null, revisionAfter: entry.revision, before: prev?.value ?? null, after: entry.value }
}

function describeKey (key: string): string {
  const i = key.indexOf('/')
  return i < 0 ? key : `${key.slice(0, i)} ${key.slice(i + 1)}`
}
