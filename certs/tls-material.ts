/**
 * TLS material of one listener or cluster: certificate, key and CA bundle loaded from files,
 * validated, and reloaded when the files change, without a restart. A server gets the new
 * context through `setSecureContext` (new handshakes only: existing connections keep theirs);
 * a client (cluster) reads `clientOptions()` for each new connection.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { watch, statSync, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { checkServerIdentity as defaultCheckServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls'
import type { TlsOptions } from '../gateway/config/options.js'
import type { PeerIdentity } from '../gateway/call/identity.js'
import { IsthmusError } from '../gateway/errors.js'
import { identityMatches, parseExpectedIdentity, parseSpiffeUri, peerIdentityFromCert, uriSans } from './identity.js'
import { readPem } from './files.js'

/** The logger calls TlsMaterial makes (a pino Logger fits). */
export interface TlsLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

export interface TlsMaterialOptions {
  /** Relative paths in the TlsOptions resolve against it. */
  baseDir: string
  logger: TlsLogger
  /** Name for log lines (`triple`, `cluster b-ingress`...). */
  name?: string
  /** Quiet period after a file event before reloading (ms, default 250). */
  debounceMs?: number
  /** Slow poll in case fs.watch misses a change, e.g. on network filesystems (ms, default 30000; 0 = off). */
  pollMs?: number
}

/** Options for `tls.createServer` / `http2.createSecureServer` (spread them in). */
export interface ServerTlsOptions extends SecureContextOptions {
  requestCert: boolean
  rejectUnauthorized: boolean
}

/** A CA in the bundle that names its entity: it may only vouch for that entity. */
interface BoundCa { readonly x509: X509Certificate, readonly entity: string, readonly trustDomain: string }

interface Loaded {
  readonly cert: string
  readonly key: string
  readonly ca: string | undefined
  readonly leaf: X509Certificate
  readonly identity: PeerIdentity | null
  readonly boundCas: readonly BoundCa[]
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Result of a peer check: the verified identity, or why the peer is refused. */
export type PeerCheck = { readonly ok: true, readonly identity: PeerIdentity | null } | { readonly ok: false, readonly reason: string }

const verdicts = new WeakMap<object, PeerCheck>()

/**
 * Loads and watches TLS files for one listener (server side) or one cluster (client side).
 * Construct with `new TlsMaterial(tlsOptions, { baseDir, logger })`: the constructor loads
 * and validates the files and throws IsthmusError ISTH_ERR_CERTS if they are bad.
 */
export class TlsMaterial {
  readonly options: Readonly<TlsOptions>
  /** Absolute file paths. */
  readonly paths: { readonly cert: string, readonly key: string, readonly ca: string | undefined }
  /** Bumped on every successful reload (a pool can compare it to decide to redial). */
  version = 1
  readonly #o: TlsMaterialOptions
  #cur: Loaded
  readonly #servers = new Set<TlsServer>()
  readonly #listeners = new Set<(m: TlsMaterial) => void>()
  #watchers: FSWatcher[] = []
  #poll: NodeJS.Timeout | null = null
  #debounce: NodeJS.Timeout | null = null
  #statSig = ''
  #lastRejected = ''
  #closed = false

  constructor (tls: Readonly<TlsOptions>, o: TlsMaterialOptions) {
    this.options = tls
    this.#o = o
    this.paths = {
      cert: resolve(o.baseDir, tls.cert),
      key: resolve(o.baseDir, tls.key),
      ca: tls.ca === undefined ? undefined : resolve(o.baseDir, tls.ca),
    }
    if (tls.peerIdentity !== undefined && parseExpectedIdentity(tls.peerIdentity) === null) {
      throw new IsthmusError('ISTH_ERR_CERTS', `peerIdentity "${tls.peerIdentity}" is neither a SPIFFE URI nor "entity[/app]"`)
    }
    const texts = this.#read()
    const r = validate(texts.cert, texts.key, texts.ca, this.paths)
    if (typeof r === 'string') throw new IsthmusError('ISTH_ERR_CERTS', r)
    this.#cur = r
    this.#statSig = this.#stat()
  }

  /** This side's own identity (from its certificate's SPIFFE URI SAN), if it has one. */
  get identity (): PeerIdentity | null { return this.#cur.identity }

  /** When the current certificate expires. */
  get notAfter (): Date { return new Date(this.#cur.leaf.validTo) }

  /**
   * Options for a TLS/HTTP2 server. With `requireClientCert` a client certificate is
   * requested and must verify against `ca`; without it but with a `ca`, one is requested and
   * used if it verifies (an identity only when `socket.authorized`).
   */
  secureContextOptions (): ServerTlsOptions {
    const c = this.#cur
    const require = this.options.requireClientCert === true
    return {
      cert: c.cert,
      key: c.key,
      ...(c.ca === undefined ? {} : { ca: c.ca }),
      minVersion: 'TLSv1.2',
      requestCert: require || c.ca !== undefined,
      rejectUnauthorized: require,
    }
  }

  /**
   * Options for dialing a cluster with mTLS: our cert and key, the pinned CA bundle, SNI,
   * and, when `peerIdentity` is set, a server check on the SPIFFE identity instead of the
   * host name (the pinned CA plus the identity is what authenticates a gateway peer).
   */
  clientOptions (): ConnectionOptions {
    const c = this.#cur
    const expected = this.options.peerIdentity
    return {
      cert: c.cert,
      key: c.key,
      ...(c.ca === undefined ? {} : { ca: c.ca }),
      ...(this.options.servername === undefined ? {} : { servername: this.options.servername }),
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      checkServerIdentity: expected === undefined
        ? defaultCheckServerIdentity
        : (_host: string, cert: PeerCertificate) => checkExpected(peerIdentityFromCert(cert), expected),
    }
  }

  /**
   * Like clientOptions(), but `cert`, `key` and `ca` are getters reading the current material,
   * so a pool that keeps one options object and spreads it per connection
   * (`{ ...opts, host, port }`) dials each new connection with the rotated certificate.
   */
  liveClientOptions (): ConnectionOptions {
    const base = this.clientOptions()
    delete base.cert
    delete base.key
    delete base.ca
    const props: PropertyDescriptorMap = {
      cert: { enumerable: true, get: () => this.#cur.cert },
      key: { enumerable: true, get: () => this.#cur.key },
    }
    if (this.paths.ca !== undefined) props.ca = { enumerable: true, get: () => this.#cur.ca }
    return Object.defineProperties(base, props)
  }

  /**
   * Check a connected socket's peer: the chain verified, the identity parsed, and the CA that
   * signed it allowed to vouch for that entity (a CA with a SPIFFE entity SAN only vouches
   * for its own entity). With `expected` (`entity[/app]` or a SPIFFE URI; default the
   * configured peerIdentity), the identity must match too. Cached per socket.
   */
  checkPeer (socket: TLSSocket, expected: string | undefined = this.options.peerIdentity): PeerCheck {
    let v = verdicts.get(socket)
    if (v === undefined) {
      v = this.#checkChain(socket)
      verdicts.set(socket, v)
    }
    if (!v.ok || expected === undefined) return v
    const err = checkExpected(v.identity, expected)
    return err === undefined ? v : { ok: false, reason: err.message }
  }

  /**
   * The expected peer identity of a cluster, checked on a connected socket: null when it
   * matches, else the reason. (clientOptions() already enforces it during the handshake;
   * this is for pools that want to re-check or log.)
   */
  checkPeerIdentity (socket: TLSSocket, expected: string): string | null {
    const r = this.checkPeer(socket, expected)
    return r.ok ? null : r.reason
  }

  /**
   * Serve `server` with this material: start watching the files and swap the server's
   * context on a valid change. Also refuses, right after the handshake, a client whose
   * certificate was signed by a CA bound to another entity (the connection is destroyed).
   */
  attach (server: TlsServer): void {
    if (this.#servers.has(server)) return
    this.#servers.add(server)
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      const r = this.checkPeer(socket, undefined)
      if (!r.ok) {
        this.#o.logger.warn({ tls: this.#name, remote: socket.remoteAddress, reason: r.reason }, 'client certificate refused')
        socket.destroy()
      }
    })
    this.watch()
  }

  /** Stop serving `server` (no more context swaps for it). */
  detach (server: TlsServer): void { this.#servers.delete(server) }

  /** Called after each successful reload (client side: new connections use the new cert). */
  onChange (fn: (m: TlsMaterial) => void): () => void {
    this.#listeners.add(fn)
    return () => { this.#listeners.delete(fn) }
  }

  /** Start watching the files (idempotent; `attach` calls it). */
  watch (): void {
    if (this.#closed || this.#watchers.length > 0 || this.#poll !== null) return
    const dirs = new Map<string, Set<string>>()
    for (const p of [this.paths.cert, this.paths.key, this.paths.ca]) {
      if (p === undefined) continue
      const d = dirname(p)
      let s = dirs.get(d)
      if (s === undefined) { s = new Set(); dirs.set(d, s) }
      s.add(basename(p))
    }
    // Watch directories, not files: editors and secret mounts replace files by rename
    // (Kubernetes swaps a `..data` symlink), which a watch on the old inode never sees.
    for (const [dir, names] of dirs) {
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => {
          const f = file === null ? null : String(file)
          if (f === null || names.has(f) || f.startsWith('..')) this.#schedule()
        })
        w.on('error', () => { /* the poll still runs */ })
        this.#watchers.push(w)
      } catch (err) {
        this.#o.logger.warn({ tls: this.#name, dir, err: (err as Error).message }, 'cannot watch TLS directory; relying on the poll')
      }
    }
    const pollMs = this.#o.pollMs ?? 30_000
    if (pollMs > 0) {
      this.#poll = setInterval(() => {
        const sig = this.#stat()
        if (sig !== this.#statSig) this.#schedule()
      }, pollMs)
      this.#poll.unref()
    }
  }

  /**
   * Re-read the files now. Returns true when a new context was installed, false when nothing
   * changed or the new files were refused (logged once; the old context stays).
   */
  reload (): boolean {
    if (this.#closed) return false
    this.#statSig = this.#stat()
    let texts: { cert: string, key: string, ca: string | undefined }
    try {
      texts = this.#read()
    } catch (err) {
      return this.#reject(`${(err as Error).message}`, String(Date.now()))
    }
    const c = this.#cur
    if (texts.cert === c.cert && texts.key === c.key && texts.ca === c.ca) return false
    const sig = texts.cert + '\0' + texts.key + '\0' + (texts.ca ?? '')
    const r = validate(texts.cert, texts.key, texts.ca, this.paths)
    if (typeof r === 'string') return this.#reject(r, sig)
    const opts = { cert: r.cert, key: r.key, ...(r.ca === undefined ? {} : { ca: r.ca }), minVersion: 'TLSv1.2' as const }
    for (const s of this.#servers) {
      try {
        s.setSecureContext(opts)
      } catch (err) {
        return this.#reject(`setSecureContext failed: ${(err as Error).message}`, sig)
      }
    }
    this.#cur = r
    this.#lastRejected = ''
    this.version++
    this.#o.logger.info({ tls: this.#name, version: this.version, identity: r.identity?.principal, notAfter: r.leaf.validTo }, 'TLS certificate reloaded')
    for (const fn of this.#listeners) {
      try { fn(this) } catch { /* a listener's failure must not stop the others */ }
    }
    return true
  }

  /** Stop watching. Servers keep their current context. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const w of this.#watchers) w.close()
    this.#watchers = []
    if (this.#poll !== null) clearInterval(this.#poll)
    if (this.#debounce !== null) clearTimeout(this.#debounce)
    this.#poll = null
    this.#debounce = null
    this.#servers.clear()
    this.#listeners.clear()
  }

  get #name (): string { return this.#o.name ?? basename(this.paths.cert) }

  #schedule (): void {
    if (this.#closed) return
    if (this.#debounce !== null) this.#debounce.refresh()
    else {
      this.#debounce = setTimeout(() => { this.#debounce = null; this.reload() }, this.#o.debounceMs ?? 250)
      this.#debounce.unref()
    }
  }

  #reject (reason: string, sig: string): false {
    // One log line per bad version of the files, not one per poll tick.
    if (sig !== this.#lastRejected) {
      this.#lastRejected = sig
      this.#o.logger.warn({ tls: this.#name, reason }, 'new TLS files refused; keeping the current certificate')
    }
    return false
  }

  #read (): { cert: string, key: string, ca: string | undefined } {
    return {
      cert: readPem(this.paths.cert, 'certificate'),
      key: readPem(this.paths.key, 'private key'),
      ca: this.paths.ca === undefined ? undefined : readPem(this.paths.ca, 'CA bundle'),
    }
  }

  #stat (): string {
    let s = ''
    for (const p of [this.paths.cert, this.paths.key, this.paths.ca]) {
      if (p === undefined) continue
      try { const st = statSync(p); s += `${st.ino}:${st.size}:${st.mtimeMs};` } catch { s += 'missing;' }
    }
    return s
  }

  #checkChain (socket: TLSSocket): PeerCheck {
    const leaf = socket.getPeerX509Certificate()
    if (leaf === undefined) return { ok: true, identity: null }
    if (socket.authorized !== true) return { ok: false, reason: `certificate not verified: ${String(socket.authorizationError ?? 'unknown')}` }
    const identity = peerIdentityFromCert(leaf)
    for (const ca of this.#cur.boundCas) {
      if (!leaf.checkIssued(ca.x509) || !leaf.verify(ca.x509.publicKey)) continue
      if (identity === null) return { ok: false, reason: `certificate from entity "${ca.entity}"'s CA carries no entity identity` }
      const td = parseSpiffeUri(identity.principal)?.trustDomain
      if (identity.entity !== ca.entity || td !== ca.trustDomain) {
        return { ok: false, reason: `certificate claims ${identity.principal} but was signed by entity "${ca.entity}"'s CA` }
      }
    }
    return { ok: true, identity }
  }
}

function checkExpected (id: PeerIdentity | null, expected: string): Error | undefined {
  if (identityMatches(id, expected)) return undefined
  return new IsthmusError('ISTH_ERR_CERTS_PEER_IDENTITY', `${id?.principal ?? '(none)'} is not the expected ${expected}`)
}

/** Validate a candidate set of files; the Loaded material, or the reason it is refused. */
function validate (cert: string, key: string, ca: string | undefined, paths: TlsMaterial['paths']): Loaded | string {
  let leaf: X509Certificate
  try { leaf = new X509Certificate(cert) } catch (err) { return `certificate ${paths.cert} does not parse: ${(err as Error).message}` }
  let pkey
  try { pkey = createPrivateKey(key) } catch (err) { return `private key ${paths.key} does not parse: ${(err as Error).message}` }
  if (!leaf.checkPrivateKey(pkey)) return `private key ${paths.key} does not match certificate ${paths.cert}`
  const now = Date.now()
  if (Date.parse(leaf.validTo) <= now) return `certificate ${paths.cert} expired on ${new Date(leaf.validTo).toISOString()}`
  if (Date.parse(leaf.validFrom) > now + 5 * 60_000) return `certificate ${paths.cert} is not valid before ${new Date(leaf.validFrom).toISOString()}`
  const boundCas: BoundCa[] = []
  if (ca !== undefined) {
    const pems = ca.match(PEM_CERT_RE)
    if (pems === null) return `CA bundle ${paths.ca ?? ''} holds no PEM certificate`
    for (const pem of pems) {
      let x: X509Certificate
      try { x = new X509Certificate(pem) } catch (err) { return `CA bundle ${paths.ca ?? ''} has a certificate that does not parse: ${(err as Error).message}` }
      if (!x.ca) return `CA bundle ${paths.ca ?? ''} holds a non-CA certificate (${x.subject.replace(/\n/g, ', ')})`
      for (const uri of uriSans(x.subjectAltName)) {
        const id = parseSpiffeUri(uri)
        if (id !== null && id.app === undefined) { boundCas.push({ x509: x, entity: id.entity, trustDomain: id.trustDomain }); break }
      }
    }
  }
  try {
    createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) })
  } catch (err) {
    return `TLS files ${paths.cert} / ${paths.key} refused by OpenSSL: ${(err as Error).message}`
  }
  return Object.freeze({ cert, key, ca, leaf, identity: peerIdentityFromCert(leaf), boundCas: Object.freeze(boundCas) })
}
