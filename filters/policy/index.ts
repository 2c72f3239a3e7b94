/**
 * `policy`: authorization. Ordered rules from caller (entity, app, claims) to target
 * (service, method) -> allow/deny, first match wins; default `deny-foreign` denies callers of
 * another entity or with no identity. Denied -> ISTH_ERR_AUTH_DENIED (gRPC 7, Bolt
 * SERVER_EXCEPTION with the reason). Runs beforeRoute, after `auth` in the chain.
 */
import { defineFilter } from '../api.js'
import type { FilterEntryOptions, GatewayOptions, PoliciesOptions } from '../../gateway/config/options.js'
import { compilePolicy, policySchema, type PolicyConfig, type PolicyOptions } from './config.js'
import { PolicyFilter } from './filter.js'

export type { PolicyOptions, PolicyConfig } from './config.js'

const policy = defineFilter<PolicyOptions, PolicyConfig>({
  name: 'policy',
  schema: policySchema,
  phase: 'beforeRoute',
  compile: compilePolicy,
  create: cfg => new PolicyFilter(cfg),
})
export default policy

/** The `policy` filter's options for the config file's top-level `policies` (or `/v1/policies`). */
export function policyFilterConfigFrom (policies: PoliciesOptions): Record<string, unknown> {
  return structuredClone({ default: policies.default, rules: policies.rules }) as unknown as Record<string, unknown>
}

/**
 * The filter chain with the top-level `policies` applied: the chain's own `policy` entry gets
 * them as its config, or, when it has none, one is inserted right after `auth` (or first).
 * Without `policies` the chain is returned as is.
 */
export function chainWithPolicies (options: Pick<GatewayOptions, 'filters' | 'policies'>): FilterEntryOptions[] {
  const filters = options.filters
  if (options.policies === undefined) return filters
  const config = policyFilterConfigFrom(options.policies)
  const i = filters.findIndex(f => f.name === 'policy' && f.module === undefined)
  if (i >= 0) return filters.map((f, j) => j === i ? { ...f, config: { ...f.config, ...config } } : f)
  const at = filters.findIndex(f => f.name === 'auth' && f.module === undefined) + 1
  return [...filters.slice(0, at), { name: 'policy', config }, ...filters.slice(at)]
}
