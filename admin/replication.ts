/**
 * Redis replication of the admin state (DESIGN.md "Distributed operation"). Layout under the
 * configured keyPrefix: hash `admin:state` (resource key -> JSON entry), hash `admin:meta`
 * (resource key -> `<revision>:<sha1 of value>`), channel `admin:changes`. A write-through is
 * one Lua compare-and-set: Redis keeps the higher revision (an equal revision with other
 * content keeps Redis's copy, so every replica converges on one value) and announces it.
 * Replicas apply announcements from others; after any (re)connect they reconcile by revision
 * (push newer local, pull newer remote), which also bootstraps a new replica.
 */
import { createHash, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { ResourceEntry } from './state-file.js'
import type { AdminStore, StoreReplicator } from './store.js'

export interface ReplicationOptions {
  url: string
  keyPrefix: string
  nodeId: string
  logger: Logger
  /** Password when the URL carries none (from `redis.passwordEnv`). */
  password?: string
  /** How long open() waits for Redis before serving local state (default 2000 ms). */
  connectTimeoutMs?: number
}

// KEYS: state, meta. ARGV: field, revision, digest, entry JSON, channel, message.
const CAS = `
local m = redis.call('HGET', KEYS[2], ARGV[1])
if m then
  local sep = string.find(m, ':', 1, true)
  local r = tonumber(string.sub(m, 1, sep - 1))
  local d = string.sub(m, sep + 1)
  local rev = tonumber(ARGV[2])
  if r > rev or (r == rev and d ~= ARGV[3]) then return redis.call('HGET', KEYS[1], ARGV[1]) end
  if r == rev then return false end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return false
`

interface Announcement { origin: string, key: string, entry: ResourceEntry }

export function digestOf (value: unknown): string {
  return createHash('sha1').update(JSON.stringify(value)).digest('hex')
}

export class RedisReplicator implements StoreReplicator {
  readonly #store: AdminStore
  readonly #o: ReplicationOptions
  readonly #log: Logger
  readonly #cmd: Redis
  readonly #sub: Redis
  readonly #stateKey: string
  readonly #metaKey: string
  readonly #channel: string
  /** Origin of our announcements: unique per store instance, since two replicas may share
   *  a node id (same hostname, or tests). */
  readonly #self: string
  #readyOnce = false
  #closed = false

  constructor (store: AdminStore, o: ReplicationOptions) {
    this.#store = store
    this.#o = o
    this.#self = `${o.nodeId}#${randomUUID()}`
    this.#log = o.logger.child({ component: 'admin-replication' })
    this.#stateKey = `${o.keyPrefix}admin:state`
    this.#metaKey = `${o.keyPrefix}admin:meta`
    this.#channel = `${o.keyPrefix}admin:changes`
    const common = {
      // Fail fast while Redis is down: the store keeps serving and reconciles later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
      lazyConnect: false,
      ...(o.password === undefined ? {} : { password: o.password }),
    }
    this.#cmd = new Redis(o.url, { ...common, connectionName: `isthmus-admin-${safeName(o.nodeId)}` })
    this.#sub = new Redis(o.url, { ...common, enableOfflineQueue: true, connectionName: `isthmus-admin-sub-${safeName(o.nodeId)}` })
    this.#cmd.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis error'))
    this.#sub.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis subscriber error'))
    this.#cmd.on('ready', () => this.#onReady('cmd'))
    this.#sub.on('ready', () => this.#onReady('sub'))
    this.#sub.on('message', (_channel: string, message: string) => this.#onMessage(message))
    this.#sub.subscribe(this.#channel).catch((err: unknown) => this.#log.warn({ err }, 'redis subscribe failed'))
  }

  #onReady (which: string): void {
    if (!this.#readyOnce) { if (which === 'cmd') this.#readyOnce = true; return }
    if (this.#closed) return
    this.#log.info({ connection: which }, 'redis back; reconciling admin state')
    this.#store.reconcile().catch((err: unknown) => this.#log.warn({ err }, 'reconcile after reconnect failed'))
  }

  #onMessage (message: string): void {
    let a: Announcement
    try { a = JSON.parse(message) as Announcement } catch { return }
    if (a.origin === this.#self) return
    this.#store.adoptRemote(new Map([[a.key, a.entry]])).catch((err: unknown) => this.#log.warn({ err, key: a.key }, 'remote change not applied'))
  }

  async #waitReady (): Promise<void> {
    if (this.#cmd.status === 'ready') return
    const timeout = this.#o.connectTimeoutMs ?? 2000
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { this.#cmd.off('ready', onReady); reject(new Error(`redis not ready after ${timeout} ms`)) }, timeout)
      const onReady = (): void => { clearTimeout(t); resolve() }
      this.#cmd.once('ready', onReady)
    })
  }

  async publish (key: string, entry: ResourceEntry): Promise<ResourceEntry | null> {
    if (this.#cmd.status !== 'ready') return null
    const message = JSON.stringify({ origin: this.#self, key, entry } satisfies Announcement)
    const winner = await this.#cmd.eval(CAS, 2, this.#stateKey, this.#metaKey, key, String(entry.revision), digestOf(entry.value), JSON.stringify(entry), this.#channel, message) as string | null
    return winner === null ? null : JSON.parse(winner) as ResourceEntry
  }

  async reconcile (local: ReadonlyMap<string, ResourceEntry>): Promise<Map<string, ResourceEntry>> {
    await this.#waitReady()
    const meta = await this.#cmd.hgetall(this.#metaKey)
    const pull: string[] = []
    let pushed = 0
    for (const [k, e] of local) {
      const m = meta[k]
      const r = m === undefined ? -1 : Number(m.slice(0, m.indexOf(':')))
      if (e.revision > r) {
        const winner = await this.publish(k, e)
        if (winner !== null) pull.push(k)
        else pushed++
      } else if (e.revision < r || m.slice(m.indexOf(':') + 1) !== digestOf(e.value)) {
        pull.push(k)
      }
    }
    for (const k of Object.keys(meta)) if (!local.has(k)) pull.push(k)
    const out = new Map<string, ResourceEntry>()
    if (pull.length > 0) {
      const values = await this.#cmd.hmget(this.#stateKey, ...pull)
      pull.forEach((k, i) => { const v = values[i]; if (v !== null) out.set(k, JSON.parse(v) as ResourceEntry) })
    }
    if (pushed > 0 || out.size > 0) this.#log.info({ pushed, pulled: out.size }, 'admin state reconciled with redis')
    return out
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#cmd.disconnect()
    this.#sub.disconnect()
  }
}

/** The `replicator` factory AdminStore.open takes. */
export function redisReplicator (o: ReplicationOptions): (store: AdminStore) => StoreReplicator {
  return store => new RedisReplicator(store, o)
}

// CLIENT SETNAME refuses spaces and newlines.
function safeName (s: string): string { return s.replace(/[^A-Za-z0-9._:-]/g, '_') }
