/**
 * Mismatches for the audit trail: each one the bound lets through is reported on the primary
 * call (`call.report`, kind `mirror`); the `audit` filter, when the chain has one, writes it
 * as a hash-chained trail line linked to the call's record. Metadata and digests, never a
 * body. The bound is a rate (`auditPerSecond`, process-wide, one-second windows) rather than
 * the admin sample's "newest N": a trail is append-only, and a target that differs on every
 * call must not turn the trail into a copy of the mirror traffic. Each line says how many
 * mismatches the bound left out since the line before (`skipped`); the counters
 * (`isthmus_mirror_comparisons_total`) count them all.
 */
import type { Call } from '../../gateway/index.js'
import type { CompareField } from './config.js'
import type { ResponseSummary } from './samples.js'

let windowStart = 0
let inWindow = 0
let skipped = 0

export interface MismatchReport {
  readonly route: string
  readonly target: string
  readonly differ: readonly CompareField[]
  readonly ignore: readonly CompareField[]
  readonly primary: ResponseSummary
  readonly mirror: ResponseSummary
}

/** Report a mismatch on `call` if the bound lets it through (else it is counted as skipped). */
export function reportMismatch (call: Call, perSecond: number, m: MismatchReport, service: string, method: string): void {
  if (perSecond === 0) return
  const now = Date.now()
  if (now - windowStart >= 1000) { windowStart = now; inWindow = 0 }
  if (inWindow >= perSecond) { skipped++; return }
  inWindow++
  const p = m.primary
  const r = m.mirror
  call.report({
    kind: 'mirror',
    data: {
      route: m.route, svc: service, method, proto: call.protocol,
      differ: m.differ, ignore: m.ignore, skipped,
      primary: { cluster: call.cluster?.name ?? null, status: p.status, grpcStatus: p.grpcStatus, bytes: p.bytes, digest: p.digest },
      mirror: { cluster: m.target, status: r.status, grpcStatus: r.grpcStatus, bytes: r.bytes, digest: r.digest },
    },
  })
  skipped = 0
}
