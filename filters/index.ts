/**
 * The built-in filters. The composition root (bin/isthmus.ts, tests, an embedding program)
 * registers them; the core never imports this folder.
 */
import { registerFilter, type FilterFactory } from '../gateway/index.js'
import audit from './audit/index.js'
import auth from './auth/index.js'
import deny from './deny/index.js'
import headers from './headers/index.js'
import ldc from './ldc/index.js'
import mirror from './mirror/index.js'
import policy from './policy/index.js'
import rateLimit from './rate-limit/index.js'
import stress from './stress/index.js'
import trace from './trace/index.js'

export const builtinFilters: readonly FilterFactory[] = Object.freeze([trace, headers, deny, auth, policy, ldc, stress, rateLimit, mirror, audit] as unknown as FilterFactory[])

/** Register every built-in filter (idempotent). */
export function registerBuiltinFilters (): void {
  for (const f of builtinFilters) registerFilter(f)
}
