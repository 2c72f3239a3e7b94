/**
 * The Redis side of cluster-wide QPS limits: one shared bucket per rule (and key) in Redis,
 * from which each replica leases tokens in batches (a Lua script: refill by Redis's clock,
 * grant up to the batch asked for, return the grant). One ioredis connection per Redis URL,
 * shared by every rate-limit filter of the process and released when the last one closes.
 * Commands fail fast while Redis is unreachable (no offline queue, a command timeout): the
 * buckets then fall back to their local share.
 */
import { Redis } from 'ioredis'
import type { Logger } from 'pino'

// KEYS[1] bucket hash {t: tokens, ts: ms}. ARGV: rate per second, burst, tokens wanted.
const LEASE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
local got = math.floor(math.min(want, tokens))
if got < 0 then got = 0 end
tokens = tokens - got
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return got
`

type LeaseFn = (key: string, rate: string, burst: string, want: string) => Promise<number>

export class LeaseClient {
  readonly id: string
  readonly #redis: Redis
  #refs = 0
  /** Bumped on every (re)connect: buckets in fallback probe at once when it changes. */
  epoch = 0

  constructor (id: string, url: string, password: string | undefined, logger: Logger) {
    this.id = id
    this.#redis = new Redis(url, {
      enableOfflineQueue: false,
      lazyConnect: false,
      maxRetriesPerRequest: 0,
      // A dead Redis closes the connection (leases fail at once); this bounds a hung one. Not
      // shorter: a busy event loop would read a late answer as a timeout.
      commandTimeout: 1000,
      connectTimeout: 1000,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      connectionName: 'isthmus-rate-limit',
      ...(password === undefined ? {} : { password }),
    })
    this.#redis.defineCommand('isthmusLease', { numberOfKeys: 1, lua: LEASE })
    this.#redis.on('error', (err: Error) => logger.debug({ err: err.message }, 'rate-limit redis error'))
    this.#redis.on('ready', () => { this.epoch++ })
  }

  get ready (): boolean { return this.#redis.status === 'ready' }

  /** Lease up to `want` tokens of the bucket `key`; rejects when Redis is unreachable. */
  lease (key: string, rate: number, burst: number, want: number): Promise<number> {
    const send = (this.#redis as unknown as { isthmusLease: LeaseFn })
    if (this.epoch === 0 && this.#redis.status !== 'ready') {
      // The first lease of a new connection waits for it (up to connectTimeout) rather than
      // failing over to the local share while the connection is still being made.
      return this.#firstReady().then(() => send.isthmusLease(key, String(rate), String(burst), String(want)))
    }
    return send.isthmusLease(key, String(rate), String(burst), String(want))
  }

  #connecting: Promise<void> | null = null
  #firstReady (): Promise<void> {
    if (this.#connecting === null) {
      this.#connecting = new Promise<void>((resolve, reject) => {
        const r = this.#redis
        const done = (): void => { clearTimeout(timer); r.off('ready', done); resolve() }
        const timer = setTimeout(() => { r.off('ready', done); this.#connecting = null; reject(new Error('redis not ready')) }, 1000)
        r.on('ready', done)
      })
    }
    return this.#connecting
  }

  ref (): this { this.#refs++; return this }

  /** Drop one reference; the last one disconnects. */
  unref (): void {
    if (--this.#refs > 0) return
    clients.delete(this.id)
    this.#redis.disconnect()
  }
}

const clients = new Map<string, LeaseClient>()
const CLOSED: Pick<LeaseClient, 'lease' | 'epoch'> = Object.freeze({ epoch: -1, lease: () => Promise.reject(new Error('rate-limit filter closed')) })

/**
 * A filter's way to the shared lease client, taken on its first lease: a compiled config that
 * never serves a call (rejected with the rest of its revision) holds no connection.
 */
export class LeaseHandle {
  readonly #url: string
  readonly #password: string | undefined
  readonly #logger: Logger
  #client: LeaseClient | null = null
  #released = false

  constructor (url: string, password: string | undefined, logger: Logger) {
    this.#url = url
    this.#password = password
    this.#logger = logger
  }

  get client (): Pick<LeaseClient, 'lease' | 'epoch'> {
    if (this.#client === null) {
      // A closed filter's late calls decide locally (their leases fail at once).
      if (this.#released) return CLOSED
      this.#client = leaseClient(this.#url, this.#password, this.#logger)
    }
    return this.#client
  }

  /** The filter is closed: drop the reference. */
  release (): void {
    if (this.#client === null || this.#released) return
    this.#released = true
    this.#client.unref()
    this.#client = null
  }
}

/** The shared lease client for a Redis URL (one connection per URL in the process). */
export function leaseClient (url: string, password: string | undefined, logger: Logger): LeaseClient {
  const id = url + '\u0000' + (password ?? '')
  let c = clients.get(id)
  if (c === undefined) { c = new LeaseClient(id, url, password, logger); clients.set(id, c) }
  return c.ref()
}
