/**
 * An entity's root CA (node-forge). The CA certificate carries the entity's SPIFFE URI SAN,
 * so `issue` can refuse a mismatched entity and a listener can bind each trusted CA to the
 * one entity it may vouch for.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import forge from 'node-forge'
import { IsthmusError } from '../gateway/errors.js'
import { NAME_RE, TRUST_DOMAIN_RE, parseSpiffeUri, spiffeUri } from './identity.js'
import { readPem, writePemFiles } from './files.js'

export const CA_CERT_FILE = 'ca.crt'
export const CA_KEY_FILE = 'ca.key'
export const DEFAULT_TRUST_DOMAIN = 'isthmus.local'

export interface CaOptions {
  entity: string
  trustDomain?: string
  /** Validity in days (default 3650). */
  days?: number
  /** Start of validity (default now minus 5 minutes, for clock skew). */
  notBefore?: Date
  /** RSA key size (default 2048). */
  keyBits?: number
}

/** A CA in memory: PEM text plus the parsed forge objects used for signing. */
export interface CertificateAuthority {
  readonly entity: string
  readonly trustDomain: string
  readonly certPem: string
  readonly keyPem: string
  readonly cert: forge.pki.Certificate
  readonly key: forge.pki.rsa.PrivateKey
}

/** An RSA key pair: generated natively (fast), converted to forge for signing. */
export function generateRsaKey (bits = 2048): { keyPem: string, key: forge.pki.rsa.PrivateKey, publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 })
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey
  return { keyPem, key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) }
}

/** A positive random serial number (hex). */
/** A new certificate for `publicKey`, with a random serial, valid `days` from `notBefore`
 *  (default: five minutes ago, to absorb clock skew between machines). */
export function newCertificate (publicKey: forge.pki.rsa.PublicKey, notBefore: Date | undefined, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  cert.serialNumber = randomSerial()
  const from = notBefore ?? new Date(Date.now() - 5 * 60_000)
  cert.validity.notBefore = from
  cert.validity.notAfter = new Date(from.getTime() + days * 86_400_000)
  return cert
}

export function randomSerial (): string {
  const b = randomBytes(16)
  b[0] &= 0x7f
  if (b[0] === 0) b[0] = 1
  return b.toString('hex')
}

export function validateName (kind: string, value: string): void {
  if (!NAME_RE.test(value)) throw new IsthmusError('ISTH_ERR_CERTS', `${kind} "${value}" is not a valid name (lower-case letters, digits, '.', '_', '-'; at most 63)`)
}

export function createCa (o: CaOptions): CertificateAuthority {
  const trustDomain = o.trustDomain ?? DEFAULT_TRUST_DOMAIN
  validateName('entity', o.entity)
  if (!TRUST_DOMAIN_RE.test(trustDomain)) throw new IsthmusError('ISTH_ERR_CERTS', `trust domain "${trustDomain}" is not valid (lower-case letters, digits, '.', '-')`)
  const days = o.days ?? 3650
  if (!(days > 0)) throw new IsthmusError('ISTH_ERR_CERTS', `days must be a positive number, got ${days}`)
  const { keyPem, key, publicKey } = generateRsaKey(o.keyBits)
  const cert = newCertificate(publicKey, o.notBefore, days)
  const subject = [{ name: 'commonName', value: `${o.entity} root CA` }, { name: 'organizationName', value: o.entity }]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'subjectAltName', altNames: [{ type: 6, value: spiffeUri(trustDomain, o.entity) }] },
  ])
  cert.sign(key, forge.md.sha256.create())
  return Object.freeze({ entity: o.entity, trustDomain, certPem: forge.pki.certificateToPem(cert), keyPem, cert, key })
}

/** Write `ca.crt` and `ca.key` (0600) into `dir`. */
export function writeCa (dir: string, ca: CertificateAuthority, force: boolean): { cert: string, key: string } {
  const cert = join(dir, CA_CERT_FILE)
  const key = join(dir, CA_KEY_FILE)
  writePemFiles([{ path: cert, data: ca.certPem, secret: false }, { path: key, data: ca.keyPem, secret: true }], force)
  return { cert, key }
}

/** The entity and trust domain a CA certificate vouches for, from its SPIFFE URI SAN. */
export function caIdentity (cert: forge.pki.Certificate): { entity: string, trustDomain: string } | null {
  const ext = cert.getExtension('subjectAltName') as { altNames?: Array<{ type: number, value: string }> } | null
  for (const n of ext?.altNames ?? []) {
    if (n.type !== 6) continue
    const id = parseSpiffeUri(n.value)
    if (id !== null && id.app === undefined) return { entity: id.entity, trustDomain: id.trustDomain }
  }
  return null
}

/** Does `key` belong to `cert`? */
export function keyMatchesCert (cert: forge.pki.Certificate, key: forge.pki.rsa.PrivateKey): boolean {
  const pub = cert.publicKey as forge.pki.rsa.PublicKey
  return pub.n !== undefined && pub.n.equals(key.n) && pub.e.equals(key.e)
}

/**
 * Load a CA written by `init-ca` from `dir`, with clear errors for a missing directory or
 * file, an unparsable file, a key that is not the certificate's, or a certificate that is
 * not a CA or not an Isthmus entity CA.
 */
export function loadCa (dir: string): CertificateAuthority {
  const certPath = join(dir, CA_CERT_FILE)
  const keyPath = join(dir, CA_KEY_FILE)
  const certPem = readPem(certPath, 'CA certificate')
  const keyPem = readPem(keyPath, 'CA key')
  let cert: forge.pki.Certificate
  let key: forge.pki.rsa.PrivateKey
  try { cert = forge.pki.certificateFromPem(certPem) } catch (err) {
    throw new IsthmusError('ISTH_ERR_CERTS', `CA certificate ${certPath} does not parse: ${(err as Error).message}`)
  }
  try { key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey } catch (err) {
    throw new IsthmusError('ISTH_ERR_CERTS', `CA key ${keyPath} does not parse (an RSA PEM key is needed): ${(err as Error).message}`)
  }
  if (!keyMatchesCert(cert, key)) throw new IsthmusError('ISTH_ERR_CERTS', `CA key ${keyPath} does not match CA certificate ${certPath}`)
  const bc = cert.getExtension('basicConstraints') as { cA?: boolean } | null
  if (bc?.cA !== true) throw new IsthmusError('ISTH_ERR_CERTS', `${certPath} is not a CA certificate (basicConstraints cA is not set)`)
  const id = caIdentity(cert)
  if (id === null) throw new IsthmusError('ISTH_ERR_CERTS', `${certPath} is not an Isthmus entity CA (no spiffe://<trust-domain>/entity/<entity> URI SAN); create one with "isthmus certs init-ca"`)
  if (cert.validity.notAfter.getTime() < Date.now()) throw new IsthmusError('ISTH_ERR_CERTS', `CA certificate ${certPath} expired on ${cert.validity.notAfter.toISOString()}`)
  return Object.freeze({ entity: id.entity, trustDomain: id.trustDomain, certPem, keyPem, cert, key })
}
