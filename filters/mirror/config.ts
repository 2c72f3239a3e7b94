/**
 * `mirror` options and their compiled form: per route (by name) a list of targets (cluster,
 * fraction), whether stress traffic is copied, and the optional response comparison with its
 * ignore rules; the global bounds (body cap, copies in flight, write buffer per copy, timeout,
 * mismatch samples kept); the counters and their label sets, prebuilt once per revision.
 */
import type { CompileContext, FilterCounter, FilterCounterCell, JsonSchema } from '../../gateway/index.js'

export type CompareField = 'status' | 'grpc-status' | 'size' | 'digest'
export const COMPARE_FIELDS: readonly CompareField[] = Object.freeze(['status', 'grpc-status', 'size', 'digest'])
export type DropReason = 'cap' | 'inflight' | 'buffer' | 'unavailable'
const DROP_REASONS: readonly DropReason[] = ['cap', 'inflight', 'buffer', 'unavailable']
export type CallOutcome = 'ok' | 'timeout' | 'reset' | 'connect' | 'aborted'
const OUTCOMES: readonly CallOutcome[] = ['ok', 'timeout', 'reset', 'connect', 'aborted']
export type CompareResult = 'match' | 'mismatch' | 'incomplete'
const RESULTS: readonly CompareResult[] = ['match', 'mismatch', 'incomplete']

export interface MirrorRouteOptions {
  /** Route name (exact). */
  route: string
  targets: Array<{ cluster: string, fraction: number }>
  /** Copy stress-test calls too (default false: they are never mirrored). */
  stress: boolean
  /** Compare the copy's response with the primary's. */
  compare?: { ignore: CompareField[] }
}

export interface MirrorOptions {
  routes: MirrorRouteOptions[]
  /** Request bodies over this many bytes are not mirrored (counted `cap`). */
  maxBodyBytes: number
  /** Copies in flight at most (process-wide); past that a copy is dropped (`inflight`). */
  maxInflight: number
  /** Bytes a copy may have waiting to be written; past that it is dropped (`buffer`). */
  maxBufferedBytes: number
  /** A copy's deadline (ms). */
  timeoutMs: number
  /** The marker on the copy: an HTTP/2 header (Triple) and Bolt header-map key. */
  header: string
  /** Mismatch samples kept (admin API, newest first). */
  samples: number
  /** Mismatch lines written to the audit trail per second at most (process-wide); 0: none. */
  auditPerSecond: number
}

export interface TargetCells {
  readonly cluster: string
  readonly fraction: number
  readonly outcome: Readonly<Record<CallOutcome, FilterCounterCell>>
  readonly dropped: Readonly<Record<DropReason, FilterCounterCell>>
  readonly stress: FilterCounterCell
  readonly compare: Readonly<Record<CompareResult, FilterCounterCell>>
}

export interface RouteMirror {
  readonly route: string
  readonly targets: readonly TargetCells[]
  readonly stress: boolean
  /** Fields compared (all minus the ignored), null when comparison is off. */
  readonly compare: readonly CompareField[] | null
  /** The ignore rules (`compare.ignore`), for the audit line. */
  readonly ignore: readonly CompareField[]
}

export interface MirrorConfig {
  readonly routes: ReadonlyMap<string, RouteMirror>
  readonly maxBodyBytes: number
  readonly maxInflight: number
  readonly maxBufferedBytes: number
  readonly timeoutMs: number
  readonly header: string
  readonly headerValue: string
  readonly samples: number
  readonly auditPerSecond: number
}

const MiB = 1024 * 1024

export const mirrorSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['routes'],
  properties: {
    routes: {
      type: 'array', minItems: 1, maxItems: 1000,
      items: {
        type: 'object', additionalProperties: false, required: ['route', 'targets'],
        properties: {
          route: { type: 'string', minLength: 1, maxLength: 256 },
          targets: {
            type: 'array', minItems: 1, maxItems: 8,
            items: {
              type: 'object', additionalProperties: false, required: ['cluster', 'fraction'],
              properties: { cluster: { type: 'string', minLength: 1, maxLength: 256 }, fraction: { type: 'number', minimum: 0, maximum: 1 } },
            },
          },
          stress: { type: 'boolean', default: false },
          compare: {
            type: 'object', additionalProperties: false,
            properties: { ignore: { type: 'array', uniqueItems: true, default: [], items: { enum: [...COMPARE_FIELDS] } } },
          },
        },
      },
    },
    maxBodyBytes: { type: 'integer', minimum: 0, maximum: 64 * MiB, default: MiB },
    maxInflight: { type: 'integer', minimum: 1, maximum: 100000, default: 256 },
    maxBufferedBytes: { type: 'integer', minimum: 1024, maximum: 64 * MiB, default: 256 * 1024 },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 600000, default: 5000 },
    header: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,127}$', default: 'x-isthmus-mirror' },
    samples: { type: 'integer', minimum: 0, maximum: 10000, default: 100 },
    auditPerSecond: { type: 'integer', minimum: 0, maximum: 10000, default: 10 },
  },
}

function cells<K extends string> (counter: FilterCounter, keys: readonly K[], label: string, base: Record<string, string>): Readonly<Record<K, FilterCounterCell>> {
  const out = {} as Record<K, FilterCounterCell>
  for (const k of keys) out[k] = counter.cell(Object.freeze({ ...base, [label]: k }))
  return Object.freeze(out)
}

export function compileMirror (o: MirrorOptions, ctx: CompileContext): MirrorConfig {
  const calls = ctx.counter('calls', 'Mirror copies that ended, by target cluster and outcome (ok: the target answered, whatever its status; aborted: the primary call ended before its request body did)', ['target', 'outcome'])
  const dropped = ctx.counter('dropped', 'Calls chosen for a mirror target but not copied, or whose copy was cut: cap (request body over maxBodyBytes), inflight (maxInflight copies in flight), buffer (the copy\'s write buffer over maxBufferedBytes), unavailable (no such cluster, no host, pool at its cap, protocol)', ['target', 'reason'])
  const skipped = ctx.counter('stress_skipped', 'Stress-test calls a mirror target would have copied, not copied (the route does not mirror stress traffic)', ['target'])
  const compared = ctx.counter('comparisons', 'Responses of a copy compared with the primary\'s: match, mismatch, incomplete (either side ended without a response)', ['target', 'result'])
  const routes = new Map<string, RouteMirror>()
  o.routes.forEach((r, i) => {
    if (routes.has(r.route)) throw ctx.invalid(`route ${r.route} is listed twice`, `/routes/${i}/route`)
    const seen = new Set<string>()
    const targets = r.targets.map((t, j) => {
      if (seen.has(t.cluster)) throw ctx.invalid(`target cluster ${t.cluster} is listed twice`, `/routes/${i}/targets/${j}/cluster`)
      seen.add(t.cluster)
      const base = { target: t.cluster }
      return Object.freeze({
        cluster: t.cluster,
        fraction: t.fraction,
        outcome: cells(calls, OUTCOMES, 'outcome', base),
        dropped: cells(dropped, DROP_REASONS, 'reason', base),
        stress: skipped.cell(Object.freeze(base)),
        compare: cells(compared, RESULTS, 'result', base),
      })
    })
    const ignore = new Set(r.compare?.ignore ?? [])
    routes.set(r.route, Object.freeze({
      route: r.route,
      targets: Object.freeze(targets),
      stress: r.stress,
      compare: r.compare === undefined ? null : Object.freeze(COMPARE_FIELDS.filter(f => !ignore.has(f))),
      ignore: Object.freeze(COMPARE_FIELDS.filter(f => ignore.has(f))),
    }))
  })
  return Object.freeze({
    routes,
    maxBodyBytes: o.maxBodyBytes,
    maxInflight: o.maxInflight,
    maxBufferedBytes: o.maxBufferedBytes,
    timeoutMs: o.timeoutMs,
    header: o.header,
    headerValue: ctx.entity === '' ? '1' : ctx.entity,
    samples: o.samples,
    auditPerSecond: o.auditPerSecond,
  })
}
