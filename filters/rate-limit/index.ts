/**
 * `rate-limit`: QPS (token bucket) and concurrency limits by service, method, caller
 * entity/app and route, local or cluster-wide through Redis (leased in batches, with a local
 * fallback share when Redis is unreachable), and adaptive priority-aware shedding. Limited
 * calls get ISTH_ERR_RATE_LIMITED: gRPC RESOURCE_EXHAUSTED (8), Bolt SERVER_THREADPOOL_BUSY.
 * Runs at afterRoute (rules may name the route); put `stress` before it. The config key,
 * folder and name are `rate-limit` (STYLE.md); README "Rate limiting".
 */
import { defineFilter } from '../../gateway/index.js'
import { compileRateLimit, rateLimitSchema, type RateLimitConfig, type RateLimitOptions } from './config.js'
import { RateLimitFilter } from './filter.js'

export type { RateLimitConfig, RateLimitOptions } from './config.js'

const rateLimit = defineFilter<RateLimitOptions, RateLimitConfig>({
  name: 'rate-limit',
  schema: rateLimitSchema,
  phase: 'afterRoute',
  compile: compileRateLimit,
  create: cfg => new RateLimitFilter(cfg),
})
export default rateLimit
