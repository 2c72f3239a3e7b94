/** Who is calling, as proven by an mTLS certificate or a verified token. */
export interface PeerIdentity {
  /** How the identity was established. */
  readonly source: 'mtls' | 'jwt'
  /** Entity (legal entity) of the caller, e.g. `acme-pay`. */
  readonly entity: string | undefined
  /** Application of the caller, when the certificate or token names one. */
  readonly app: string | undefined
  /** The SPIFFE URI, or the token subject. */
  readonly principal: string
  /** Verified token claims (JWT only). */
  readonly claims: Readonly<Record<string, unknown>> | undefined
}

/** A decision a filter took about the call, kept for the audit record. */
export interface Decision {
  readonly filter: string
  readonly action: 'allow' | 'deny' | 'tag' | 'route' | 'limit' | 'mirror' | 'info'
  readonly reason: string
}
