/**
 * `auth` filter options and their compiled form: the JWKS source, verify options and every
 * local reply, built once per config revision.
 */
import { resolve } from 'node:path'
import type { JWTVerifyOptions } from 'jose'
import type { CompileContext, FilterCounter, JsonSchema, LocalReply } from '../../gateway/index.js'
import { JwksSource } from './jwks.js'

/** Asymmetric algorithms only: a JWKS of public keys cannot verify HMAC, and never `none`. */
export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export type Algorithm = typeof ALGORITHMS[number]

export interface AuthOptions {
  jwks: {
    /** Local JWKS file (relative to the config's directory). */
    file?: string
    /** Remote JWKS URL, fetched with undici. */
    url?: string
    /** Least time between two refreshes caused by an unknown kid (default 30 s). */
    refreshIntervalMs: number
    /** A remote JWKS older than this is refetched (default 10 min). */
    maxAgeMs: number
    timeoutMs: number
  }
  /** Accepted `alg` values (default RS256, ES256). */
  algorithms: Algorithm[]
  issuer?: string | string[]
  audience?: string | string[]
  /** Tolerance for exp/nbf/iat (seconds, default 30). */
  clockSkewSec: number
  /** Claims that must be present. */
  requiredClaims: string[]
  /** Header (Triple) / header-map key (Bolt) carrying the token (default `authorization`). */
  header: string
  /** Let calls without a token through (a present but bad token is still refused). */
  optional: boolean
  /** Claim names mapped onto the caller identity. */
  claims: { entity: string, app: string }
  /** Keep the token on the forwarded call (default true); false strips the header. */
  forwardToken: boolean
  /** Verified tokens are remembered this long at most (ms, default 60000; 0 = no cache). */
  cacheMs: number
}

const str = { type: 'string', minLength: 1 } as const
const strOrList = { oneOf: [str, { type: 'array', minItems: 1, items: str }] } as const

export const authSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['jwks'],
  properties: {
    jwks: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        file: str,
        url: { type: 'string', pattern: '^https?://' },
        refreshIntervalMs: { type: 'integer', minimum: 0, default: 30_000 },
        maxAgeMs: { type: 'integer', minimum: 1000, default: 600_000 },
        timeoutMs: { type: 'integer', minimum: 1, default: 5_000 },
      },
    },
    algorithms: { type: 'array', minItems: 1, items: { enum: [...ALGORITHMS] }, default: ['RS256', 'ES256'] },
    issuer: strOrList,
    audience: strOrList,
    clockSkewSec: { type: 'integer', minimum: 0, maximum: 600, default: 30 },
    requiredClaims: { type: 'array', items: str, default: [] },
    header: { type: 'string', minLength: 1, default: 'authorization' },
    optional: { type: 'boolean', default: false },
    claims: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { entity: { ...str, default: 'entity' }, app: { ...str, default: 'app' } },
    },
    forwardToken: { type: 'boolean', default: true },
    cacheMs: { type: 'integer', minimum: 0, default: 60_000 },
  },
}

/** Why a call is refused; each has its prebuilt reply. */
export const REASONS = {
  missing: 'missing bearer token',
  malformedHeader: 'authorization header is not "Bearer <token>"',
  malformed: 'token is malformed',
  algorithm: 'token algorithm is not allowed',
  signature: 'token signature is invalid',
  expired: 'token expired',
  notYetValid: 'token is not yet valid',
  issuer: 'token issuer is not accepted',
  audience: 'token audience is not accepted',
  unknownKey: 'no signing key for the token kid',
  keysUnavailable: 'signing keys are unavailable',
  claim: 'token lacks a required claim or a claim is invalid',
} as const
export type Reason = keyof typeof REASONS

export interface AuthConfig {
  readonly jwks: JwksSource
  readonly verify: Readonly<JWTVerifyOptions>
  readonly algorithms: ReadonlySet<string>
  readonly header: string
  readonly optional: boolean
  readonly entityClaim: string
  readonly appClaim: string
  readonly forwardToken: boolean
  readonly cacheMs: number
  readonly clockSkewMs: number
  readonly replies: Readonly<Record<Reason, LocalReply>>
  readonly stats: FilterCounter
}

export function compileAuth (o: AuthOptions, ctx: CompileContext): AuthConfig {
  if ((o.jwks.file === undefined) === (o.jwks.url === undefined)) throw ctx.invalid('set exactly one of jwks.file and jwks.url', '/jwks')
  if ((o.algorithms as string[]).includes('none')) throw ctx.invalid('alg "none" is never accepted', '/algorithms')
  let jwks: JwksSource
  try {
    jwks = new JwksSource({
      file: o.jwks.file === undefined ? undefined : resolve(ctx.baseDir, o.jwks.file),
      url: o.jwks.url,
      refreshIntervalMs: o.jwks.refreshIntervalMs,
      maxAgeMs: o.jwks.maxAgeMs,
      timeoutMs: o.jwks.timeoutMs,
    }, ctx.logger)
  } catch (err) {
    throw ctx.invalid(`cannot load JWKS file: ${(err as Error).message}`, '/jwks/file')
  }
  const replies = {} as Record<Reason, LocalReply>
  for (const k of Object.keys(REASONS) as Reason[]) replies[k] = ctx.localReply('ISTH_ERR_AUTH_UNAUTHENTICATED', REASONS[k])
  const verify: JWTVerifyOptions = {
    algorithms: [...o.algorithms],
    clockTolerance: o.clockSkewSec,
    ...(o.issuer === undefined ? {} : { issuer: o.issuer }),
    ...(o.audience === undefined ? {} : { audience: o.audience }),
    ...(o.requiredClaims.length === 0 ? {} : { requiredClaims: [...o.requiredClaims] }),
  }
  return Object.freeze({
    jwks,
    verify: Object.freeze(verify),
    algorithms: new Set<string>(o.algorithms),
    header: o.header.toLowerCase(),
    optional: o.optional,
    entityClaim: o.claims.entity,
    appClaim: o.claims.app,
    forwardToken: o.forwardToken,
    cacheMs: o.cacheMs,
    clockSkewMs: o.clockSkewSec * 1000,
    replies: Object.freeze(replies),
    stats: ctx.counter('calls', 'calls seen by the auth filter, by result', ['result']),
  })
}
