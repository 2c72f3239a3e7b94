/**
 * `rate-limit` options and their compiled form: rules (match + QPS token bucket and/or a
 * concurrency limit, local or cluster-wide through Redis), the adaptive governor, replies and
 * counters, all built once per revision (a config change that leaves this filter's options
 * alone keeps its buckets: the gateway reuses the compiled filter).
 */
import { compileStringMatch, stringMatchSchema, type CompileContext, type Decision, type FilterCounter, type JsonSchema, type LocalReply, type StringMatch } from '../../gateway/index.js'
import { AdaptiveGovernor, adaptiveSchema, type AdaptiveOptions } from './adaptive.js'
import { LeaseHandle } from './redis-leases.js'
import { RuleMatch, type MatchOptions } from './match.js'
import { RuleBuckets } from './rule-buckets.js'

export interface RuleOptions {
  name: string
  /** Calls the rule applies to (every given field must match; none: every call). */
  match?: MatchOptions
  /** Separate buckets per value of these call fields (default: one bucket for all matched calls). */
  by?: Array<'service' | 'method' | 'entity' | 'app' | 'route'>
  /** Token bucket: `rate` calls per second, bursts up to `burst` (default: rate); `cluster`: shared by every replica through Redis. */
  qps?: { rate: number, burst?: number, cluster?: boolean }
  /** Calls in flight at most (per replica). */
  concurrency?: number
  /** Count what the rule would refuse, refuse nothing (dry run). */
  shadow?: boolean
}

export interface RateLimitOptions {
  rules: RuleOptions[]
  /** Cluster rules: Redis (default the config's `redis` section) and the fallback share. */
  cluster?: { url?: string, passwordEnv?: string, keyPrefix?: string, fallbackShare: number, leaseMs: number, probeMs: number }
  adaptive?: AdaptiveOptions
  /** Distinct `by` values kept per rule; further values share one bucket. */
  maxKeys: number
}

const str = { type: 'string', minLength: 1 } as const
const byField = { enum: ['service', 'method', 'entity', 'app', 'route'] } as const
export const matchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { service: stringMatchSchema, method: stringMatchSchema, entity: stringMatchSchema, app: stringMatchSchema, route: stringMatchSchema },
} as const

export const rateLimitSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    rules: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' },
          match: matchSchema,
          by: { type: 'array', items: byField, minItems: 1, uniqueItems: true },
          qps: {
            type: 'object', additionalProperties: false, required: ['rate'],
            properties: {
              rate: { type: 'number', exclusiveMinimum: 0, maximum: 1e9 },
              burst: { type: 'number', minimum: 1, maximum: 1e9 },
              cluster: { type: 'boolean', default: false },
            },
          },
          concurrency: { type: 'integer', minimum: 1, maximum: 1e9 },
          shadow: { type: 'boolean', default: false },
        },
      },
    },
    cluster: {
      type: 'object',
      additionalProperties: false,
      required: ['fallbackShare'],
      properties: {
        url: { type: 'string', pattern: '^rediss?://' },
        passwordEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        keyPrefix: str,
        // Each replica's share of a cluster rate while Redis is unreachable (0.5: two replicas).
        fallbackShare: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        // Tokens leased at a time: this many milliseconds of the rate.
        leaseMs: { type: 'integer', minimum: 5, maximum: 1000, default: 50 },
        // While in fallback, how often a lease is tried again.
        probeMs: { type: 'integer', minimum: 50, maximum: 60000, default: 500 },
      },
    },
    adaptive: adaptiveSchema,
    maxKeys: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
  },
}

export interface CompiledRule {
  readonly name: string
  readonly match: RuleMatch
  readonly buckets: RuleBuckets
  readonly concurrency: number
  readonly hasQps: boolean
  readonly cluster: boolean
  readonly shadow: boolean
  readonly reply: LocalReply
  readonly concurrencyReply: LocalReply
  readonly labels: { readonly allowed: Readonly<Record<string, string>>, readonly limited: Readonly<Record<string, string>>, readonly shadow: Readonly<Record<string, string>>, readonly rule: Readonly<Record<string, string>> }
}

export interface RateLimitConfig {
  readonly rules: readonly CompiledRule[]
  /** Rules with a concurrency limit (released when the call ends). */
  readonly concurrent: readonly CompiledRule[]
  readonly adaptive: AdaptiveGovernor | null
  /** Marks a call this filter admitted and must release in onLog. */
  readonly admitted: Decision
  /** onLog has work: concurrency rules or the adaptive governor. */
  readonly tracks: boolean
  readonly decisions: FilterCounter
  readonly fallback: FilterCounter
  readonly client: LeaseHandle | null
}

export function compileRateLimit (o: RateLimitOptions, ctx: CompileContext): RateLimitConfig {
  const names = new Set<string>()
  const anyCluster = o.rules.some(r => r.qps?.cluster === true)
  let client: LeaseHandle | null = null
  let keyPrefix = ''
  const redisErrors = ctx.counter('redis_errors', 'cluster rate-limit leases that failed (Redis unreachable or slow)', ['rule'])
  const fallback = ctx.counter('fallback', 'calls decided by the local fallback share because Redis was unreachable, by rule', ['rule'])
  if (anyCluster) {
    if (o.cluster === undefined) throw ctx.invalid('cluster rules need the `cluster` block (at least fallbackShare)', '/cluster')
    const url = o.cluster.url ?? ctx.redis?.url
    if (url === undefined) throw ctx.invalid('cluster rules need Redis: set cluster.url or the config\'s redis section', '/cluster/url')
    const envName = o.cluster.passwordEnv ?? (o.cluster.url === undefined ? ctx.redis?.passwordEnv : undefined)
    const password = envName === undefined ? undefined : process.env[envName]
    if (envName !== undefined && (password === undefined || password === '')) throw ctx.invalid(`environment variable ${envName} is not set`, '/cluster/passwordEnv')
    keyPrefix = `${o.cluster.keyPrefix ?? ctx.redis?.keyPrefix ?? 'isthmus:'}ratelimit:`
    client = new LeaseHandle(url, password, ctx.logger)
  }
  const now = performance.now()
  const rules = o.rules.map((r, i): CompiledRule => {
    if (names.has(r.name)) throw ctx.invalid(`rule name "${r.name}" is used twice`, `/rules/${i}/name`)
    names.add(r.name)
    if (r.qps === undefined && r.concurrency === undefined) throw ctx.invalid('a rule needs qps or concurrency', `/rules/${i}`)
    const burst = r.qps?.burst ?? Math.max(1, r.qps?.rate ?? 1)
    if (r.qps !== undefined && burst < 1) throw ctx.invalid('burst must be >= 1', `/rules/${i}/qps/burst`)
    const cluster = r.qps?.cluster === true
    const labels = { rule: r.name }
    return Object.freeze({
      name: r.name,
      match: new RuleMatch(r.match ?? {}),
      buckets: new RuleBuckets({
        by: r.by ?? null,
        maxKeys: o.maxKeys,
        qps: r.qps === undefined ? null : { rate: r.qps.rate, burst },
        cluster: cluster && client !== null
          ? { handle: client, keyPrefix: `${keyPrefix}${r.name}`, share: o.cluster!.fallbackShare, leaseMs: o.cluster!.leaseMs, probeMs: o.cluster!.probeMs, errors: redisErrors, labels: Object.freeze({ ...labels }) }
          : null,
        now,
      }),
      concurrency: r.concurrency ?? 0,
      hasQps: r.qps !== undefined,
      cluster,
      shadow: r.shadow === true,
      reply: ctx.localReply('ISTH_ERR_RATE_LIMITED', `rule ${r.name}: over ${r.qps?.rate ?? 0} calls per second${cluster ? ' across the cluster' : ''}`),
      concurrencyReply: ctx.localReply('ISTH_ERR_RATE_LIMITED', `rule ${r.name}: over ${r.concurrency ?? 0} calls in flight`),
      labels: Object.freeze({
        allowed: Object.freeze({ rule: r.name, decision: 'allowed' }),
        limited: Object.freeze({ rule: r.name, decision: 'limited' }),
        shadow: Object.freeze({ rule: r.name, decision: 'shadow' }),
        rule: Object.freeze({ ...labels }),
      }),
    })
  })
  const adaptive = o.adaptive === undefined ? null : new AdaptiveGovernor(o.adaptive, ctx)
  const concurrent = rules.filter(r => r.concurrency > 0)
  return Object.freeze({
    rules: Object.freeze(rules),
    concurrent: Object.freeze(concurrent),
    adaptive,
    admitted: Object.freeze({ filter: 'rate-limit', action: 'allow' as const, reason: 'admitted (holds a concurrency slot until the call ends)' }),
    tracks: concurrent.length > 0 || adaptive !== null,
    decisions: ctx.counter('decisions', 'rate-limit decisions by rule: allowed, limited, shadow (would have been limited)', ['rule', 'decision']),
    fallback,
    client,
  })
}

export type { StringMatch }
