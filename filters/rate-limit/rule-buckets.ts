/**
 * The buckets of one rule: one for every matched call, or one per value of the `by` fields
 * (at most `maxKeys`; later values share an overflow bucket, so memory stays bounded whatever
 * callers send). A bucket holds the rule's QPS bucket (local or cluster) and its in-flight count.
 */
import { createHash } from 'node:crypto'
import type { Call, FilterCounter } from '../../gateway/index.js'
import { ClusterBucket } from './cluster-bucket.js'
import type { LeaseHandle } from './redis-leases.js'
import { TokenBucket } from './token-bucket.js'

export type ByField = 'service' | 'method' | 'entity' | 'app' | 'route'

export interface RuleBucket {
  readonly qps: TokenBucket | ClusterBucket | null
  inflight: number
}

export interface ClusterSpec {
  readonly handle: LeaseHandle
  /** Redis key of the rule (a `by` value is appended). */
  readonly keyPrefix: string
  readonly share: number
  readonly leaseMs: number
  readonly probeMs: number
  readonly errors: FilterCounter
  readonly labels: Readonly<Record<string, string>>
}

export class RuleBuckets {
  readonly #by: readonly ByField[] | null
  readonly #maxKeys: number
  readonly #qps: { rate: number, burst: number } | null
  readonly #cluster: ClusterSpec | null
  readonly #single: RuleBucket | null
  readonly #keyed = new Map<string, RuleBucket>()
  #overflow: RuleBucket | null = null

  constructor (o: { by: readonly ByField[] | null, maxKeys: number, qps: { rate: number, burst: number } | null, cluster: ClusterSpec | null, now: number }) {
    this.#by = o.by
    this.#maxKeys = o.maxKeys
    this.#qps = o.qps
    this.#cluster = o.cluster
    this.#single = o.by === null ? this.#make('', o.now) : null
  }

  bucketFor (call: Call, now: number): RuleBucket {
    if (this.#single !== null) return this.#single
    const key = keyOf(call, this.#by!)
    let b = this.#keyed.get(key)
    if (b === undefined) {
      if (this.#keyed.size >= this.#maxKeys) {
        if (this.#overflow === null) this.#overflow = this.#make('\u0000overflow', now)
        return this.#overflow
      }
      b = this.#make(key, now)
      this.#keyed.set(key, b)
    }
    return b
  }

  /** The bucket a call was counted in, without creating one (for releasing a slot). */
  existing (call: Call): RuleBucket | undefined {
    if (this.#single !== null) return this.#single
    return this.#keyed.get(keyOf(call, this.#by!)) ?? this.#overflow ?? undefined
  }

  #make (key: string, now: number): RuleBucket {
    const q = this.#qps
    const c = this.#cluster
    let qps: TokenBucket | ClusterBucket | null = null
    if (q !== null) {
      qps = c === null
        ? new TokenBucket(q.rate, q.burst, now)
        : new ClusterBucket({ key: redisKey(c.keyPrefix, key), rate: q.rate, burst: q.burst, leaseMs: c.leaseMs, share: c.share, probeMs: c.probeMs, handle: c.handle, stats: c, now })
    }
    return { qps, inflight: 0 }
  }
}

function keyOf (call: Call, by: readonly ByField[]): string {
  let k = ''
  for (let i = 0; i < by.length; i++) {
    if (i > 0) k += '\u0001'
    switch (by[i]) {
      case 'service': k += call.service; break
      case 'method': k += call.method; break
      case 'entity': k += call.caller?.entity ?? ''; break
      case 'app': k += call.caller?.app ?? ''; break
      case 'route': k += call.route?.name ?? ''; break
    }
  }
  return k
}

/** The Redis key of a bucket: the rule's key, plus the `by` value (hashed when long or odd). */
function redisKey (prefix: string, key: string): string {
  if (key === '') return prefix
  return /^[\x20-\x7e\u0001]{1,128}$/.test(key) ? `${prefix}:${key.replace(/\u0001/g, '|')}` : `${prefix}:#${createHash('sha1').update(key).digest('hex')}`
}
