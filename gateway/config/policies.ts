import type { FilterEntryOptions, GatewayOptions, PoliciesOptions } from './options.js'

/** Name of the chain entry that the top-level `policies` section configures. */
export const POLICY_FILTER = 'policy'

/** The `policy` filter's options for the config file's top-level `policies` (or `/v1/policies`). */
export function policyFilterConfigFrom (policies: PoliciesOptions): Record<string, unknown> {
  return structuredClone({ default: policies.default, rules: policies.rules }) as unknown as Record<string, unknown>
}

/**
 * The filter chain with the top-level `policies` applied: the chain's own `policy` entry gets
 * them as its config, or, when it has none, one is inserted right after `auth` (or first).
 * Without `policies` the chain is returned as is. The core knows the filter by name only.
 */
export function chainWithPolicies (options: Pick<GatewayOptions, 'filters' | 'policies'>): FilterEntryOptions[] {
  const filters = options.filters
  if (options.policies === undefined) return filters
  const config = policyFilterConfigFrom(options.policies)
  const i = filters.findIndex(f => f.name === POLICY_FILTER && f.module === undefined)
  if (i >= 0) return filters.map((f, j) => j === i ? { ...f, config: { ...f.config, ...config } } : f)
  const at = filters.findIndex(f => f.name === 'auth' && f.module === undefined) + 1
  return [...filters.slice(0, at), { name: POLICY_FILTER, config }, ...filters.slice(at)]
}
