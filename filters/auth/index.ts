/**
 * `auth`: JWT bearer-token authentication (jose). Keys from a local JWKS file or a remote
 * JWKS URL; alg allow-list (never `none`); iss/aud/exp/nbf with clock skew; claims become the
 * caller identity. Missing or bad token -> ISTH_ERR_AUTH_UNAUTHENTICATED (gRPC 16, Bolt
 * SERVER_EXCEPTION) with the reason; `optional: true` lets calls without a token through.
 */
import { defineFilter } from '../../gateway/index.js'
import { authSchema, compileAuth, type AuthConfig, type AuthOptions } from './config.js'
import { AuthFilter } from './filter.js'

export type { AuthOptions, AuthConfig } from './config.js'

export default defineFilter<AuthOptions, AuthConfig>({
  name: 'auth',
  schema: authSchema,
  phase: 'beforeRoute',
  compile: compileAuth,
  create: cfg => new AuthFilter(cfg),
})
