/**
 * `ldc`: unit (LDC) routing. Configured by the top-level `ldc` section (or `PUT /v1/ldc`),
 * which the gateway hands to this chain entry; runs at afterRoute, so a wrong-unit call can be
 * re-targeted to its zone's gateway cluster (Call.reroute). Place it after `auth` when the
 * uid comes from a JWT claim (auth runs beforeRoute, so any position works). README "LDC routing".
 */
import { defineFilter, type LdcOptions } from '../../gateway/index.js'
import { compileLdc, ldcFilterSchema, type LdcConfig } from './config.js'
import { LdcFilter } from './filter.js'

export type { LdcConfig } from './config.js'

const ldc = defineFilter<LdcOptions, LdcConfig>({
  name: 'ldc',
  schema: ldcFilterSchema,
  phase: 'afterRoute',
  compile: compileLdc,
  create: cfg => new LdcFilter(cfg),
})
export default ldc
