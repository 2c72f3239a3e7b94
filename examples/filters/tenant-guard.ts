/**
 * An example user filter: only calls whose `x-tenant` header names an allowed tenant pass.
 * Build it with `tsc` and point a chain entry at the output:
 *
 *   filters:
 *     - name: tenant-guard
 *       module: ./tenant-guard.js
 *       config: { header: x-tenant, allowed: [t1, t2] }
 *
 * It imports only the package's public entry, `isthmus`, as any filter outside this
 * repository does. Its test is tenant-guard.test.ts; README "Writing a filter" walks through it.
 */
import { CONTINUE, defineFilter, LocalReply, type Call, type ErrorCode } from 'isthmus'

/** The options as written in the config file (after the schema's defaults). */
export interface TenantGuardOptions {
  header: string
  allowed: string[]
  /** Answer for a call without the header: unauthenticated (default) or denied. */
  missing: 'unauthenticated' | 'denied'
}

/** What compile prebuilds once per config revision; the hooks only read it. */
interface TenantGuardConfig {
  header: string
  allowed: ReadonlySet<string>
  unknownTenant: LocalReply
  noTenant: LocalReply
}

const MISSING_CODES: Record<TenantGuardOptions['missing'], ErrorCode> = {
  unauthenticated: 'ISTH_ERR_AUTH_UNAUTHENTICATED',
  denied: 'ISTH_ERR_AUTH_DENIED',
}

export default defineFilter<TenantGuardOptions, TenantGuardConfig>({
  name: 'tenant-guard',
  // JSON schema of `config` (ajv, defaults applied): an unknown key or a wrong type is a config
  // error naming its path, before compile runs.
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['allowed'],
    properties: {
      header: { type: 'string', default: 'x-tenant', pattern: '^[a-z0-9-]+$' },
      allowed: { type: 'array', items: { type: 'string', minLength: 1 } },
      missing: { enum: ['unauthenticated', 'denied'], default: 'unauthenticated' },
    },
  },
  phase: 'beforeRoute',

  // Once per config revision, off the call path: check what the schema cannot say, and build
  // every reply now so a call allocates nothing.
  compile (o, ctx) {
    if (o.allowed.length === 0) throw ctx.invalid('allow at least one tenant', '/allowed')
    return {
      header: o.header,
      allowed: new Set(o.allowed),
      // A LocalReply maps its code to a gRPC status (Triple) and a Bolt status (docs/ERRORS.md).
      unknownTenant: new LocalReply('ISTH_ERR_AUTH_DENIED', 'unknown tenant'),
      noTenant: ctx.localReply(MISSING_CODES[o.missing], `no ${o.header} header`),
    }
  },

  create (cfg) {
    return {
      // Synchronous: returns CONTINUE or a prebuilt LocalReply (no Promise on the call path).
      onRequest (call: Call) {
        const tenant = call.headers.get(cfg.header)
        if (tenant === undefined) return cfg.noTenant
        if (cfg.allowed.has(tenant)) return CONTINUE
        // Decisions go on the call: the access log (and the audit) show who was refused and why.
        call.decide({ filter: 'tenant-guard', action: 'deny', reason: `tenant ${tenant} is not allowed` })
        return cfg.unknownTenant
      },
    }
  },
})
