/**
 * `auth`: verifies a JWT bearer token (jose) and puts its claims on `call.identity`.
 * Sync on the common paths: no token (CONTINUE or a prebuilt reply), a disallowed `alg`,
 * and a token verified recently (cached until it expires). Only a token not seen before goes
 * async, which the chain runner supports.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose'
import { LRUCache } from 'lru-cache'
import { CONTINUE, IsthmusError, type Call, type Decision, type Filter, type LocalReply, type PeerIdentity, type Verdict } from '../../gateway/index.js'
import { REASONS, type AuthConfig, type Reason } from './config.js'

const ALLOW: Decision = Object.freeze({ filter: 'auth', action: 'allow', reason: 'valid token' })
const DENY: Readonly<Record<Reason, Decision>> = Object.freeze(Object.fromEntries(
  (Object.keys(REASONS) as Reason[]).map(k => [k, Object.freeze({ filter: 'auth', action: 'deny', reason: REASONS[k] })]),
) as Record<Reason, Decision>)

// Counter label objects built once: no allocation per call.
const L_ALLOWED = Object.freeze({ result: 'allowed' })
const L_DENIED: Readonly<Record<Reason, Readonly<Record<string, string>>>> = Object.freeze(Object.fromEntries(
  (Object.keys(REASONS) as Reason[]).map(k => [k, Object.freeze({ result: k })]),
) as unknown as Record<Reason, Readonly<Record<string, string>>>)

interface Cached { readonly identity: PeerIdentity, readonly until: number }

export class AuthFilter implements Filter {
  readonly #cfg: AuthConfig
  readonly #cache: LRUCache<string, Cached> | null

  constructor (cfg: AuthConfig) {
    this.#cfg = cfg
    this.#cache = cfg.cacheMs > 0 ? new LRUCache<string, Cached>({ max: 10_000 }) : null
  }

  onRequest (call: Call): Verdict {
    const c = this.#cfg
    const raw = call.headers.get(c.header)
    if (raw === undefined || raw === '') {
      if (c.optional) return CONTINUE
      return this.#deny(call, 'missing')
    }
    const token = bearer(raw, call.protocol === 'bolt')
    if (token === null) return this.#deny(call, 'malformedHeader')
    if (this.#cache !== null) {
      const hit = this.#cache.get(token)
      if (hit !== undefined) {
        if (Date.now() < hit.until) return this.#accept(call, hit.identity)
        this.#cache.delete(token)
      }
    }
    let alg: string | undefined
    try { alg = decodeProtectedHeader(token).alg } catch { return this.#deny(call, 'malformed') }
    if (alg === undefined || !c.algorithms.has(alg)) return this.#deny(call, 'algorithm')
    return this.#verify(call, token)
  }

  close (): void { this.#cache?.clear() }

  async #verify (call: Call, token: string): Promise<typeof CONTINUE | LocalReply> {
    const c = this.#cfg
    let payload: JWTPayload
    try {
      payload = (await jwtVerify(token, c.jwks.getKey, c.verify)).payload
    } catch (err) {
      return this.#deny(call, reasonOf(err))
    }
    const identity = this.#identityOf(call, payload)
    if (this.#cache !== null) {
      const now = Date.now()
      const exp = typeof payload.exp === 'number' ? payload.exp * 1000 + c.clockSkewMs : Infinity
      this.#cache.set(token, { identity, until: Math.min(exp, now + c.cacheMs) })
    }
    return this.#accept(call, identity)
  }

  #identityOf (call: Call, p: JWTPayload): PeerIdentity {
    const c = this.#cfg
    const entity = p[c.entityClaim]
    const app = p[c.appClaim]
    return Object.freeze({
      source: 'jwt',
      // A token without an entity claim speaks for the entity of the mTLS peer that carried it.
      entity: typeof entity === 'string' ? entity : call.peer?.entity,
      app: typeof app === 'string' ? app : undefined,
      principal: p.sub ?? '',
      claims: Object.freeze({ ...p }),
    })
  }

  #accept (call: Call, identity: PeerIdentity): typeof CONTINUE {
    call.identity = identity
    call.decide(ALLOW)
    if (!this.#cfg.forwardToken) call.headers.delete(this.#cfg.header)
    this.#cfg.stats.inc(L_ALLOWED)
    return CONTINUE
  }

  #deny (call: Call, reason: Reason): LocalReply {
    call.decide(DENY[reason])
    this.#cfg.stats.inc(L_DENIED[reason])
    return this.#cfg.replies[reason]
  }
}

/** The token in `Bearer <token>`; Bolt also accepts the bare token. */
function bearer (v: string, bareOk: boolean): string | null {
  if (v.length > 7 && (v.charCodeAt(6) === 0x20) && v.slice(0, 6).toLowerCase() === 'bearer') {
    const t = v.slice(7).trim()
    return t === '' ? null : t
  }
  if (bareOk && v.indexOf(' ') === -1 && v.split('.').length === 3) return v
  return null
}

function reasonOf (err: unknown): Reason {
  if (err instanceof errors.JWTExpired) return 'expired'
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'issuer'
    if (err.claim === 'aud') return 'audience'
    if (err.claim === 'nbf') return 'notYetValid'
    return 'claim'
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature'
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm'
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return 'unknownKey'
  if (err instanceof IsthmusError && err.code === 'ISTH_ERR_AUTH_JWKS_UNAVAILABLE') return 'keysUnavailable'
  return 'malformed'
}
