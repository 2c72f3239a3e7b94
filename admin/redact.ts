/**
 * The effective config with secrets removed, for GET /v1/config: the admin token, the Redis
 * password and any filter setting whose name says it is a secret. File paths (certificates,
 * keys, token files) are shown; their contents never are.
 */
import type { GatewayOptions } from '../gateway/config/options.js'

const SECRET_KEY = /(secret|password|passwd|token|apikey|api_key|privatekey|private_key|credential)/i
export const REDACTED = '[redacted]'
const URL_WITH_USERINFO = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*@/i

export function redactOptions (o: Readonly<GatewayOptions>): unknown {
  const copy = structuredClone(o) as GatewayOptions
  const admin = copy.listeners.admin
  if (admin.token !== undefined) admin.token = REDACTED
  if (copy.redis !== undefined) copy.redis.url = redactUrl(copy.redis.url)
  for (const f of copy.filters) if (f.config !== undefined) f.config = redactFilterConfig(f.config)
  return copy
}

/** A filter's settings as the admin shows them (GET /v1/config, GET /v1/filters/{name}). */
export function redactFilterConfig (config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return redactDeep(config) as Record<string, unknown>
}

export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = REDACTED
    return u.toString()
  } catch {
    return REDACTED
  }
}

/** Any pushed resource value (a filter's config, a cluster, an app) with secret-named settings redacted. */
export function redactValue (v: unknown): unknown { return redactDeep(v) }

function redactDeep (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactDeep)
  if (v === null || typeof v !== 'object') return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    // A `...File` / `...Path` / `...Env` names where the secret is, not the secret.
    if (SECRET_KEY.test(k) && !/(file|path|env)$/i.test(k) && (typeof x === 'string' || typeof x === 'number')) out[k] = REDACTED
    // A URL's user info is a secret whatever the key is called (redis://:pw@host, https://u:pw@host).
    else if (typeof x === 'string' && URL_WITH_USERINFO.test(x)) out[k] = redactUrl(x)
    else out[k] = redactDeep(x)
  }
  return out
}
