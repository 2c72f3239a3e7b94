import { IsthmusError } from '../errors.js'
import type { FilterEntryOptions, GatewayOptions } from './options.js'

/** Name of the chain entry that the top-level `audit` section configures. */
export const AUDIT_FILTER = 'audit'

/**
 * The `audit` filter's options from the top-level `audit` section, plus what the filter cannot
 * see from its own config: the top-level `redis` (the export queue) and this replica's id.
 */
export function auditFilterConfigFrom (options: Pick<GatewayOptions, 'audit' | 'redis'>, nodeId: string): Record<string, unknown> {
  const { enabled: _enabled, ...section } = options.audit
  const config: Record<string, unknown> = { ...structuredClone(section), node: nodeId }
  const r = options.redis
  if (r !== undefined) {
    config.redis = r.passwordEnv === undefined ? { url: r.url, keyPrefix: r.keyPrefix } : { url: r.url, keyPrefix: r.keyPrefix, passwordEnv: r.passwordEnv }
  }
  return config
}

/**
 * The chain with the audit filter placed. With `audit.enabled` and no `audit` entry, one is
 * appended; an explicit `audit` entry gets the section as its base config (its own `config`
 * keys win) and must be the last entry of `filters`. Last, because its onLog must see what every
 * other filter decided. The core knows the filter by name only.
 */
export function chainWithAudit (options: Pick<GatewayOptions, 'audit' | 'redis' | 'filters'>, entries: FilterEntryOptions[], nodeId: string): FilterEntryOptions[] {
  const i = entries.findIndex(f => f.name === AUDIT_FILTER && f.module === undefined)
  if (i < 0) {
    if (!options.audit.enabled) return entries
    return [...entries, { name: AUDIT_FILTER, config: auditFilterConfigFrom(options, nodeId) }]
  }
  const at = options.filters.indexOf(entries[i])
  if (i !== entries.length - 1) {
    const path = `/filters/${at}`
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}: the audit filter must be the last entry (it records what every other filter decided)`, path)
  }
  const e = entries[i]
  return [...entries.slice(0, i), { ...e, config: { ...auditFilterConfigFrom(options, nodeId), ...e.config } }]
}
