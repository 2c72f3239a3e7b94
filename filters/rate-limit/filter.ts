/**
 * `rate-limit` per call: every matching rule takes a QPS token (local, or leased from the
 * cluster bucket) and checks its concurrency; then the adaptive governor may shed by
 * priority. An admitted call that holds concurrency (a rule slot or the governor's count)
 * is marked with a decision and released in onLog when it ends. Sync: no Promise and no
 * closure per call; Redis is only reached by batched leases off the call path.
 */
import { CONTINUE, type Call, type Filter, type Verdict } from '../../gateway/index.js'
import { ADMIT, AdaptiveGovernor, type ServiceStats } from './adaptive.js'
import type { RateLimitConfig } from './config.js'
import type { RuleBucket } from './rule-buckets.js'
import { ClusterBucket } from './cluster-bucket.js'

// Scratch space for one call's matched rules (the call path is synchronous, so one per process).
const matched: number[] = []
const slots: RuleBucket[] = []

export class RateLimitFilter implements Filter {
  readonly #cfg: RateLimitConfig

  constructor (cfg: RateLimitConfig) { this.#cfg = cfg }

  onRequest (call: Call): Verdict {
    const c = this.#cfg
    const now = call.startedAt
    const rules = c.rules
    let nMatched = 0
    let nSlots = 0
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]
      if (!r.match.matches(call)) continue
      const b = r.buckets.bucketFor(call, now)
      const q = b.qps
      if (q !== null) {
        const ok = q.take(now)
        if (r.cluster && (q as ClusterBucket).fallback) c.fallback.inc(r.labels.rule)
        if (!ok) {
          if (r.shadow) c.decisions.inc(r.labels.shadow)
          else { c.decisions.inc(r.labels.limited); return r.reply }
        }
      }
      if (r.concurrency > 0) {
        if (b.inflight >= r.concurrency) {
          if (r.shadow) c.decisions.inc(r.labels.shadow)
          else { c.decisions.inc(r.labels.limited); return r.concurrencyReply }
        } else slots[nSlots++] = b
      }
      matched[nMatched++] = i
    }
    let stats: ServiceStats | null = null
    const g = c.adaptive
    if (g !== null) {
      stats = g.statsFor(call.service)
      const shed = g.admit(call, stats)
      if (shed !== ADMIT) return g.replies[shed]
    }
    // Admitted: take the slots, count the decisions.
    for (let i = 0; i < nSlots; i++) slots[i].inflight++
    for (let i = 0; i < nMatched; i++) c.decisions.inc(rules[matched[i]].labels.allowed)
    if (stats !== null) AdaptiveGovernor.started(stats)
    if (nSlots > 0 || stats !== null) call.decide(c.admitted)
    return CONTINUE
  }

  onLog (call: Call): void {
    const c = this.#cfg
    if (!c.tracks) return
    const d = call.decisions
    if (d === null || !d.includes(c.admitted)) return
    const conc = c.concurrent
    for (let i = 0; i < conc.length; i++) {
      const r = conc[i]
      if (!r.match.matches(call)) continue
      const b = r.buckets.existing(call)
      if (b !== undefined && b.inflight > 0) b.inflight--
    }
    if (c.adaptive !== null) AdaptiveGovernor.ended(c.adaptive.statsFor(call.service), (call.endedAt === 0 ? performance.now() : call.endedAt) - call.startedAt, call.status)
  }

  close (): void {
    this.#cfg.adaptive?.close()
    this.#cfg.client?.release()
  }
}
