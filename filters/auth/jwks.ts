/**
 * Signing keys for the auth filter: a JWKS from a local file or a remote URL (undici fetch),
 * cached, and re-read when a token names an unknown `kid`, at most once per interval, so a
 * flood of tokens with made-up kids cannot hammer the key server.
 */
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { fetch } from 'undici'
import { IsthmusError } from '../../gateway/index.js'

export interface JwksSourceOptions {
  /** Local JWKS file (absolute). */
  file?: string
  /** Remote JWKS URL. */
  url?: string
  /** Least time between two refreshes triggered by an unknown kid (ms). */
  refreshIntervalMs: number
  /** A cached remote JWKS older than this is refetched on the next token (ms). */
  maxAgeMs: number
  /** Fetch timeout (ms). */
  timeoutMs: number
}

export interface JwksLogger { warn (obj: object, msg: string): void, info (obj: object, msg: string): void }

/** Why keys could not be had: the source failed or holds no keys (match it by its code). */
export function jwksUnavailable (detail: string): IsthmusError {
  return new IsthmusError('ISTH_ERR_AUTH_JWKS_UNAVAILABLE', detail)
}

export class JwksSource {
  readonly #o: JwksSourceOptions
  readonly #log: JwksLogger
  #set: ReturnType<typeof createLocalJWKSet> | null = null
  #fetchedAt = 0
  #pending: Promise<void> | null = null
  #lastError: string | null = null

  constructor (o: JwksSourceOptions, log: JwksLogger) {
    this.#o = o
    this.#log = log
    // A local file is read now so a bad file fails the config load, not the first call.
    if (o.file !== undefined) this.#install(JSON.parse(readFileSync(o.file, 'utf8')) as JSONWebKeySet)
  }

  /** Is a key set loaded and fresh enough to use without waiting? */
  get ready (): boolean {
    return this.#set !== null && (this.#o.url === undefined || Date.now() - this.#fetchedAt < this.#o.maxAgeMs)
  }

  /** The key lookup jose calls; refreshes once on an unknown kid (rate limited). */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.ready) await this.refresh(true)
    const set = this.#set
    if (set === null) throw jwksUnavailable(this.#lastError ?? 'no signing keys loaded')
    try {
      return await set(header, token)
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
      if (Date.now() - this.#fetchedAt < this.#o.refreshIntervalMs) throw err
      await this.refresh(false)
      return await this.#set!(header, token)
    }
  }

  /** Re-read the keys; concurrent callers share one fetch. A failure keeps the old keys. */
  refresh (initial: boolean): Promise<void> {
    if (this.#pending === null) {
      this.#pending = this.#load().then(
        (jwks) => { this.#install(jwks); this.#lastError = null },
        (err: unknown) => {
          this.#lastError = (err as Error).message
          // Count the attempt too: a dead key server is retried once per interval, not per call.
          this.#fetchedAt = Date.now()
          this.#log.warn({ jwks: this.#o.url ?? this.#o.file, err: this.#lastError, initial }, 'cannot load JWKS; keeping the keys we have')
        },
      ).finally(() => { this.#pending = null })
    }
    return this.#pending
  }

  #install (jwks: JSONWebKeySet): void {
    if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new Error('JWKS has no "keys" array')
    this.#set = createLocalJWKSet(jwks)
    this.#fetchedAt = Date.now()
  }

  async #load (): Promise<JSONWebKeySet> {
    if (this.#o.file !== undefined) return JSON.parse(readFileSync(this.#o.file, 'utf8')) as JSONWebKeySet
    const res = await fetch(this.#o.url!, { signal: AbortSignal.timeout(this.#o.timeoutMs), headers: { accept: 'application/json' } })
    if (res.status !== 200) {
      await res.body?.cancel()
      throw new Error(`GET ${this.#o.url ?? ''} answered ${res.status}`)
    }
    return await res.json() as JSONWebKeySet
  }
}
