/**
 * Leaf certificates signed by an entity CA (node-forge). The URI SAN
 * `spiffe://<trust-domain>/entity/<entity>[/app/<app>]` carries the identity; server
 * certificates also carry DNS/IP SANs for hostname checks.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import forge from 'node-forge'
import { IsthmusError } from '../gateway/errors.js'
import { spiffeUri } from './identity.js'
import { generateRsaKey, newCertificate, validateName, type CertificateAuthority } from './ca.js'
import { writePemFiles } from './files.js'

export interface IssueOptions {
  entity: string
  app?: string
  /** Server usage (serverAuth) with these DNS names / IP addresses. */
  server?: boolean
  dns?: readonly string[]
  ip?: readonly string[]
  /** Client usage (clientAuth). With neither flag, both usages are set. */
  client?: boolean
  /** Validity in days (default 365). */
  days?: number
  /** Start of validity (default now minus 5 minutes). Tests use it to make expired certs. */
  notBefore?: Date
  keyBits?: number
}

export interface IssuedCert {
  readonly uri: string
  readonly certPem: string
  readonly keyPem: string
  /** PEM of the issuing CA, for the bundle a peer needs. */
  readonly caPem: string
  readonly notAfter: Date
}

/**
 * Sign a leaf for `o.entity` with `ca`. A CA vouches for its own entity only: asking it for
 * another entity's certificate is refused (that is what a mismatched CA looks like).
 */
export function issueCert (ca: CertificateAuthority, o: IssueOptions): IssuedCert {
  validateName('entity', o.entity)
  if (o.app !== undefined) validateName('app', o.app)
  if (o.entity !== ca.entity) {
    throw new IsthmusError('ISTH_ERR_CERTS', `the CA is entity "${ca.entity}"'s CA and cannot issue for entity "${o.entity}" (use that entity's CA)`)
  }
  const days = o.days ?? 365
  if (!(days > 0)) throw new IsthmusError('ISTH_ERR_CERTS', `days must be a positive number, got ${days}`)
  const dns = o.dns ?? []
  const ips = o.ip ?? []
  for (const ip of ips) if (isIP(ip) === 0) throw new IsthmusError('ISTH_ERR_CERTS', `--ip ${ip} is not an IP address`)
  for (const d of dns) if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(d)) throw new IsthmusError('ISTH_ERR_CERTS', `--dns ${d} is not a DNS name`)
  const both = o.server !== true && o.client !== true
  const server = both || o.server === true
  const client = both || o.client === true
  if (!server && (dns.length > 0 || ips.length > 0)) throw new IsthmusError('ISTH_ERR_CERTS', '--dns/--ip need --server')

  const uri = spiffeUri(ca.trustDomain, o.entity, o.app)
  const { keyPem, publicKey } = generateRsaKey(o.keyBits)
  const cert = newCertificate(publicKey, o.notBefore, days)
  if (cert.validity.notAfter > ca.cert.validity.notAfter) cert.validity.notAfter = ca.cert.validity.notAfter
  cert.setSubject([
    { name: 'commonName', value: o.app === undefined ? o.entity : `${o.app}.${o.entity}` },
    { name: 'organizationName', value: o.entity },
  ])
  cert.setIssuer(ca.cert.subject.attributes)
  const altNames: Array<{ type: number, value?: string, ip?: string }> = [{ type: 6, value: uri }]
  for (const d of dns) altNames.push({ type: 2, value: d })
  for (const ip of ips) altNames.push({ type: 7, ip })
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: server, clientAuth: client },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
    { name: 'subjectAltName', altNames },
  ])
  cert.sign(ca.key, forge.md.sha256.create())
  return Object.freeze({ uri, certPem: forge.pki.certificateToPem(cert), keyPem, caPem: ca.certPem, notAfter: cert.validity.notAfter })
}

/** Default base name of a leaf's files: `<entity>` or `<entity>-<app>`. */
export function leafBaseName (entity: string, app?: string): string {
  return app === undefined ? entity : `${entity}-${app}`
}

/** Write `<name>.crt`, `<name>.key` (0600) and the issuing CA as `ca.crt` into `dir`. */
export function writeIssued (dir: string, name: string, c: IssuedCert, force: boolean): { cert: string, key: string, ca: string } {
  const paths = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`), ca: join(dir, 'ca.crt') }
  // The CA copy is public: written when absent, kept when identical; replacing a different
  // CA's certificate (say, another entity's, when --out is a CA directory) needs force.
  let existing: string | null
  try { existing = readFileSync(paths.ca, 'utf8') } catch { existing = null }
  if (existing !== null && !force && existing.trim() !== c.caPem.trim()) {
    throw new IsthmusError('ISTH_ERR_CERTS', `${paths.ca} holds a different CA certificate (use another --out, or --force to replace it)`)
  }
  writePemFiles([
    { path: paths.cert, data: c.certPem, secret: false },
    { path: paths.key, data: c.keyPem, secret: true },
  ], force)
  if (existing === null || existing.trim() !== c.caPem.trim()) writePemFiles([{ path: paths.ca, data: c.caPem, secret: false }], true)
  return paths
}
