/**
 * A cluster-wide token bucket as one replica sees it: tokens leased from the shared Redis
 * bucket in batches and spent locally, so a call costs no Redis round trip and no Promise.
 * A lease is asked for when the local tokens run low (one in flight at a time). A call that
 * finds none while no lease has said "empty" may borrow (the debt is repaid from the next
 * grants, so the cluster total stays exact; at most `batch` calls are outstanding). When
 * Redis does not answer, the bucket falls back to a local bucket of `share` x the rate until
 * a probe lease succeeds again.
 */
import type { FilterCounter } from '../../gateway/index.js'
import type { LeaseHandle } from './redis-leases.js'
import { TokenBucket } from './token-bucket.js'

/** Where a cluster bucket counts failed leases. */
export interface ClusterStats { readonly errors: FilterCounter, readonly labels: Readonly<Record<string, string>> }

export class ClusterBucket {
  readonly key: string
  readonly rate: number
  readonly burst: number
  readonly batch: number
  /** Leased tokens spendable until this time (a lease not spent soon is stale). */
  expiresAt = 0
  /** Leased, unspent tokens; negative: borrowed ahead of the next grant. */
  tokens = 0
  leasing = false
  /** After a short grant (Redis bucket empty), no borrowing and no lease before this. */
  emptyUntil = 0
  /** In fallback: the local share decides; a probe lease is tried from `probeAt` on. */
  fallback = false
  probeAt = 0
  seenEpoch = 0
  readonly local: TokenBucket
  readonly #handle: LeaseHandle
  readonly #probeMs: number
  readonly #ttlMs: number
  readonly #stats: ClusterStats
  // Bound once: a lease's callbacks are these, not closures made per lease.
  readonly #onGrant: (got: number) => void
  readonly #onError: () => void
  #askedAt = 0
  #asked = 0

  constructor (o: { key: string, rate: number, burst: number, leaseMs: number, share: number, probeMs: number, handle: LeaseHandle, stats: ClusterStats, now: number }) {
    this.key = o.key
    this.rate = o.rate
    this.burst = o.burst
    this.batch = Math.max(1, Math.ceil(o.rate * o.leaseMs / 1000))
    this.local = new TokenBucket(o.rate * o.share, Math.max(1, o.burst * o.share), o.now)
    this.#handle = o.handle
    this.#probeMs = o.probeMs
    this.#ttlMs = Math.max(1000, 4 * o.leaseMs)
    this.#stats = o.stats
    this.#onGrant = (got) => this.#granted(got)
    this.#onError = () => this.#failed()
  }

  take (now: number): boolean {
    if (this.fallback) {
      if (!this.leasing && (now >= this.probeAt || this.#handle.client.epoch !== this.seenEpoch)) this.#lease(now, 1)
      return this.local.take(now)
    }
    if (this.tokens > 0 && now >= this.expiresAt) this.tokens = 0 // stale lease: let it go
    if (this.tokens >= 1) {
      this.tokens--
      if (this.tokens < this.batch / 2 && !this.leasing) this.#lease(now, this.batch)
      return true
    }
    if (now < this.emptyUntil) return false
    if (!this.leasing) this.#lease(now, this.batch - this.tokens)
    // Borrow while the cluster bucket is not known to be empty: repaid from the next grant.
    if (this.tokens > -this.batch) { this.tokens--; return true }
    return false
  }

  #lease (now: number, want: number): void {
    this.leasing = true
    this.#askedAt = now
    this.#asked = want
    this.#handle.client.lease(this.key, this.rate, this.burst, want).then(this.#onGrant, this.#onError)
  }

  #granted (got: number): void {
    this.leasing = false
    this.seenEpoch = this.#handle.client.epoch
    if (this.fallback) { this.fallback = false; this.tokens = 0 }
    this.tokens += got
    this.expiresAt = this.#askedAt + this.#ttlMs
    // Short grant: the cluster is at its limit; wait about one batch's refill before asking again.
    if (got < this.#asked) this.emptyUntil = this.#askedAt + Math.max(1, 1000 * this.batch / this.rate)
  }

  #failed (): void {
    this.leasing = false
    this.#stats.errors.inc(this.#stats.labels)
    this.seenEpoch = this.#handle.client.epoch
    if (!this.fallback) {
      this.fallback = true
      // Borrowed tokens are forgotten: the local share takes over from here, starting empty
      // (this replica was just spending cluster tokens: no extra burst on failover).
      this.tokens = 0
      this.local.tokens = 0
      this.local.last = this.#askedAt
    }
    this.probeAt = this.#askedAt + this.#probeMs
  }
}
