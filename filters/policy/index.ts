/**
 * `policy`: authorization. Ordered rules from caller (entity, app, claims) to target
 * (service, method) -> allow/deny, first match wins; default `deny-foreign` denies callers of
 * another entity or with no identity. Denied -> ISTH_ERR_AUTH_DENIED (gRPC 7, Bolt
 * SERVER_EXCEPTION with the reason). Runs beforeRoute, after `auth` in the chain.
 */
import { defineFilter } from '../../gateway/index.js'
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
