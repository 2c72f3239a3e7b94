/**
 * SPIFFE-style identities carried in a certificate's URI SAN:
 * `spiffe://<trust-domain>/entity/<entity>[/app/<app>]`. Parsing happens once per TLS
 * connection (cached per socket), never per call.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls'
import type { PeerIdentity } from '../gateway/call/identity.js'
import { X509Certificate } from 'node:crypto'

export type { PeerIdentity } from '../gateway/call/identity.js'

/** Entity, app and trust-domain names: what fits in a SPIFFE path segment and a file name. */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/
export const TRUST_DOMAIN_RE = /^[a-z0-9][a-z0-9.-]{0,252}$/

/** The SPIFFE URI for an entity (and optionally one of its apps). */
export function spiffeUri (trustDomain: string, entity: string, app?: string): string {
  return `spiffe://${trustDomain}/entity/${entity}${app === undefined ? '' : `/app/${app}`}`
}

/** A parsed SPIFFE identity; null when `uri` is not of our shape. */
export interface SpiffeId { readonly trustDomain: string, readonly entity: string, readonly app: string | undefined, readonly uri: string }

const SPIFFE_RE = /^spiffe:\/\/([^/]+)\/entity\/([^/]+)(?:\/app\/([^/]+))?$/

export function parseSpiffeUri (uri: string): SpiffeId | null {
  const m = SPIFFE_RE.exec(uri)
  if (m === null) return null
  return { trustDomain: m[1], entity: m[2], app: m[3], uri }
}

/**
 * Parse an expected identity as written in config: a full SPIFFE URI, or `entity[/app]`
 * (any trust domain). Returns null for anything else.
 */
export function parseExpectedIdentity (s: string): { trustDomain: string | undefined, entity: string, app: string | undefined } | null {
  if (s.startsWith('spiffe://')) {
    const id = parseSpiffeUri(s)
    return id === null ? null : { trustDomain: id.trustDomain, entity: id.entity, app: id.app }
  }
  const parts = s.split('/')
  if (parts.length > 2 || !parts.every(p => NAME_RE.test(p))) return null
  return { trustDomain: undefined, entity: parts[0], app: parts[1] }
}

/** Does `id` satisfy the expectation (same entity; same app and trust domain when given)? */
export function identityMatches (id: PeerIdentity | null, expected: string): boolean {
  if (id === null || id.entity === undefined) return false
  const e = parseExpectedIdentity(expected)
  if (e === null) return false
  if (e.entity !== id.entity) return false
  if (e.app !== undefined && e.app !== id.app) return false
  if (e.trustDomain !== undefined) {
    const parsed = parseSpiffeUri(id.principal)
    if (parsed === null || parsed.trustDomain !== e.trustDomain) return false
  }
  return true
}

/** The `URI:` entries of a subjectAltName string as Node prints it (`URI:a, DNS:b`). */
export function uriSans (subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return []
  const out: string[] = []
  for (const part of subjectAltName.split(', ')) {
    if (part.startsWith('URI:')) {
      let v = part.slice(4)
      // Node quotes values with special characters as JSON strings.
      if (v.startsWith('"')) { try { v = JSON.parse(v) as string } catch { continue } }
      out.push(v)
    }
  }
  return out
}

/**
 * The identity a certificate proves, from its first SPIFFE URI SAN of our shape; null when
 * it has none (or, with `trustDomain`, none in that trust domain). The caller must have
 * verified the certificate chain (e.g. `socket.authorized`) before trusting the result.
 */
export function peerIdentityFromCert (cert: PeerCertificate | X509Certificate | null | undefined, trustDomain?: string): PeerIdentity | null {
  if (cert === null || cert === undefined) return null
  const san = cert instanceof X509Certificate ? cert.subjectAltName : (cert as PeerCertificate).subjectaltname
  for (const uri of uriSans(san)) {
    const id = parseSpiffeUri(uri)
    if (id === null) continue
    if (trustDomain !== undefined && id.trustDomain !== trustDomain) continue
    return Object.freeze({ source: 'mtls', entity: id.entity, app: id.app, principal: uri, claims: undefined })
  }
  return null
}

const cache = new WeakMap<object, PeerIdentity | null>()

/**
 * The verified identity of a TLS connection's peer, computed once per socket and cached.
 * Returns null when the peer sent no certificate or it did not verify against the CA
 * (`socket.authorized` false): an unverified certificate never yields an identity.
 * Pass an HTTP/2 session's `socket` or a Bolt TLS socket.
 */
export function peerIdentityOfSocket (socket: TLSSocket): PeerIdentity | null {
  const hit = cache.get(socket)
  if (hit !== undefined) return hit
  let id: PeerIdentity | null = null
  if (socket.authorized === true) id = peerIdentityFromCert(socket.getPeerCertificate(false))
  cache.set(socket, id)
  return id
}
