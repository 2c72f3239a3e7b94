/**
 * Admin authentication: a bearer token (compared in constant time over SHA-256 digests, so
 * neither content nor length leaks) or a verified client certificate whose SPIFFE identity
 * is listed in `adminIdentities`. Decided once at startup: which sources are configured and
 * whether the bind address may go without them.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { IncomingMessage } from 'node:http'
import { resolve } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { identityMatches, peerIdentityOfSocket } from '../certs/identity.js'
import type { AdminListenerOptions } from '../gateway/config/options.js'
import { IsthmusError } from '../gateway/errors.js'

/** `foreign`: the open (loopback, no credentials) mode got a request whose Host or Origin is
 *  not loopback: a web page (CSRF) or a rebound DNS name, not a local tool. */
export type AuthVerdict = 'ok' | 'unauthenticated' | 'forbidden' | 'foreign'

export class AdminAuth {
  readonly #tokenDigest: Buffer | null
  readonly #identities: readonly string[]
  readonly #mtls: boolean

  constructor (options: Readonly<AdminListenerOptions>, tlsRequiresClientCert: boolean, baseDir = process.cwd(), env: NodeJS.ProcessEnv = process.env) {
    const token = resolveToken(options, baseDir, env)
    this.#tokenDigest = token === null ? null : digest(token)
    this.#identities = Object.freeze([...(options.adminIdentities ?? [])])
    this.#mtls = tlsRequiresClientCert && this.#identities.length > 0
    if (this.#tokenDigest === null && !this.#mtls && !isLoopback(options.host)) {
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID',
        `/listeners/admin: the admin API binds ${options.host}, which is not a loopback address, with no token and no mTLS; set token, tokenFile or tokenEnv (or tls.requireClientCert with adminIdentities)`,
        '/listeners/admin')
    }
  }

  /** True when neither a token nor admin identities are configured (loopback only). */
  get open (): boolean { return this.#tokenDigest === null && this.#identities.length === 0 }

  /** A token is configured (the console's login form can be used). */
  get tokenLogin (): boolean { return this.#tokenDigest !== null }

  /** `token` is the configured admin token (constant time). */
  tokenMatches (token: string): boolean {
    return this.#tokenDigest !== null && timingSafeEqual(digest(token), this.#tokenDigest)
  }

  /** Who an accepted request is, for the config history: `token`, `cert <identity>` or `loopback`. */
  who (req: IncomingMessage): string {
    if (req.headers.authorization !== undefined) return 'token'
    const socket = req.socket as TLSSocket
    if (socket.encrypted === true) {
      const id = peerIdentityOfSocket(socket)
      if (id !== null) return `cert ${id}`
    }
    return 'loopback'
  }

  check (req: IncomingMessage): AuthVerdict {
    const header = req.headers.authorization
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (m === null || this.#tokenDigest === null) return 'forbidden'
      return timingSafeEqual(digest(m[1]), this.#tokenDigest) ? 'ok' : 'forbidden'
    }
    const socket = req.socket as TLSSocket
    if (socket.encrypted === true) {
      const id = peerIdentityOfSocket(socket)
      if (id !== null) {
        for (const allowed of this.#identities) if (identityMatches(id, allowed)) return 'ok'
        return 'forbidden'
      }
    }
    // Loopback-only admin with nothing configured: the bind address is the protection, as
    // long as the request really comes from a local tool and not from a browser tab that a
    // page (or a DNS name rebound to 127.0.0.1) points here.
    if (this.open) return loopbackRequest(req) ? 'ok' : 'foreign'
    return 'unauthenticated'
  }
}

/** Host (when sent) and Origin (when sent) both name a loopback address. */
export function loopbackRequest (req: IncomingMessage): boolean {
  const host = req.headers.host
  if (host !== undefined && !isLoopback(hostOfAuthority(host))) return false
  const origin = req.headers.origin
  if (origin === undefined) return true
  let u: URL
  try { u = new URL(origin) } catch { return false } // includes "null" (sandboxed frames, file:)
  return (u.protocol === 'http:' || u.protocol === 'https:') && isLoopback(u.hostname.replace(/^\[(.*)\]$/, '$1'))
}

/** The host part of a Host header: `[::1]:8080` -> `::1`, `localhost:80` -> `localhost`. */
function hostOfAuthority (authority: string): string {
  const a = authority.trim().toLowerCase()
  if (a.startsWith('[')) {
    const end = a.indexOf(']')
    return end < 0 ? a : a.slice(1, end)
  }
  const i = a.indexOf(':')
  return i < 0 ? a : a.slice(0, i)
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

/** The configured token (inline, file or env), trimmed; null when none is configured. */
export function resolveToken (o: Readonly<AdminListenerOptions>, baseDir: string, env: NodeJS.ProcessEnv): string | null {
  if (o.token !== undefined) return o.token
  if (o.tokenFile !== undefined) {
    let text: string
    try {
      text = readFileSync(resolve(baseDir, o.tokenFile), 'utf8')
    } catch (err) {
      throw new IsthmusError('ISTH_ERR_CONFIG_READ', `/listeners/admin/tokenFile: ${(err as Error).message}`, '/listeners/admin/tokenFile')
    }
    const t = text.trim()
    if (t === '') throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/listeners/admin/tokenFile: ${o.tokenFile} is empty`, '/listeners/admin/tokenFile')
    return t
  }
  if (o.tokenEnv !== undefined) {
    const t = env[o.tokenEnv]?.trim()
    if (t === undefined || t === '') throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/listeners/admin/tokenEnv: environment variable ${o.tokenEnv} is not set`, '/listeners/admin/tokenEnv')
    return t
  }
  return null
}

export function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  const v = isIP(host)
  if (v === 4) return host.startsWith('127.')
  if (v === 6) return host === '::1' || host.toLowerCase() === '::ffff:127.0.0.1'
  return false
}
