/**
 * `audit`: a verifiable audit trail, one record per call (README "Audit trail"). Put last in
 * the chain by the top-level `audit.enabled`, or as the last `filters` entry.
 */
import { defineFilter } from '../../gateway/index.js'
import { auditFilterSchema, compileAuditConfig, type AuditConfig, type AuditFilterOptions } from './config.js'
import { AuditFilter } from './filter.js'
import { registerAuditMetrics } from './metrics.js'

export default defineFilter<AuditFilterOptions, AuditConfig>({
  name: 'audit',
  schema: auditFilterSchema,
  phase: 'beforeRoute',
  compile (o, ctx) {
    registerAuditMetrics()
    return compileAuditConfig(o, ctx)
  },
  create (cfg) { return new AuditFilter(cfg) },
})
