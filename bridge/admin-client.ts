/**
 * HTTP client of the gateway's admin API (README "Admin API reference"): Bearer token or an
 * admin client certificate, JSON bodies, a deadline on every request. The bridge only calls
 * the API over HTTP; it never imports admin/.
 *
 * A token from a file is re-read whenever the admin refuses it (401/403): a rotated token
 * (a Kubernetes secret update, an operator's new file) is picked up on the next request, and
 * a request refused with the old one is sent once more at once with the new one. Every later
 * refusal re-reads again, so the file may be replaced after the gateway already switched.
 * The client certificate files likewise: re-read when the admin refuses the request or the
 * TLS connection fails (a renewed certificate replaces one that expired), and a new
 * connection pool is used when they changed.
 */
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { Agent, request, type Dispatcher } from 'undici'

export interface AdminClientOptions {
  /** Base URL, e.g. http://127.0.0.1:9901 or https://gw-admin:9901. */
  url: string
  token?: string
  /** Where `token` came from: re-read when the admin answers 401 or 403. */
  tokenFile?: string
  logger?: Logger
  /** Admin mTLS: PEM client certificate and key, and the CA that verifies the admin server. */
  tls?: { cert?: string, key?: string, ca?: string, servername?: string }
  /** Where the PEMs of `tls` came from: re-read on a refusal or a failed connection. */
  tlsFiles?: { cert?: string, key?: string, ca?: string }
  timeoutMs: number
}

export interface AdminReply {
  status: number
  /** Parsed JSON body (undefined when empty or not JSON). */
  body: unknown
  /** Bytes sent in the request body. */
  sent: number
}

/** The admin could not be reached or did not answer in time. */
export class AdminUnavailable extends Error {
  override readonly name = 'AdminUnavailable'
}

export class AdminClient {
  readonly #base: URL
  readonly #headers: Record<string, string>
  #dispatcher: Dispatcher
  readonly #timeoutMs: number
  readonly #tokenFile: string | undefined
  readonly #log: Logger | undefined
  /** The last re-read error logged (a retry loop logs it once). */
  #tokenError = ''
  #tls: AdminClientOptions['tls']
  readonly #tlsFiles: AdminClientOptions['tlsFiles']
  #tlsError = ''

  constructor (o: AdminClientOptions) {
    this.#base = new URL(o.url)
    this.#headers = { 'content-type': 'application/json', accept: 'application/json' }
    if (o.token !== undefined) this.#headers.authorization = `Bearer ${o.token}`
    this.#timeoutMs = o.timeoutMs
    this.#tokenFile = o.tokenFile
    this.#log = o.logger
    this.#tls = o.tls
    this.#tlsFiles = o.tlsFiles
    this.#dispatcher = this.#agent()
  }

  #agent (): Dispatcher {
    const t = this.#tls
    const connect = t === undefined ? {} : { cert: t.cert, key: t.key, ca: t.ca, servername: t.servername }
    return new Agent({ connect, connections: 16, headersTimeout: this.#timeoutMs, bodyTimeout: this.#timeoutMs })
  }

  /** Reads the PEM files of `--cert/--key/--ca` (throws with the file name). */
  static readTls (files: { cert?: string, key?: string, ca?: string }): AdminClientOptions['tls'] {
    const read = (f: string | undefined): string | undefined => {
      if (f === undefined) return undefined
      try { return readFileSync(f, 'utf8') } catch (err) { throw new Error(`cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`) }
    }
    return { cert: read(files.cert), key: read(files.key), ca: read(files.ca) }
  }

  async send (method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<AdminReply> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const sentWith = this.#headers.authorization
    let r: AdminReply
    try {
      r = await this.#send(method, path, payload)
    } catch (err) {
      if (err instanceof AdminUnavailable && this.#reloadTls()) return this.#send(method, path, payload)
      throw err
    }
    if (r.status === 401 || r.status === 403) {
      const token = this.#reloadToken(sentWith)
      if (this.#reloadTls() || token) return this.#send(method, path, payload)
    }
    return r
  }

  /** Re-read the certificate files; true when they changed (new connections use them). */
  #reloadTls (): boolean {
    const files = this.#tlsFiles
    const cur = this.#tls
    if (files === undefined || cur === undefined) return false
    let next: NonNullable<AdminClientOptions['tls']>
    try {
      next = { ...AdminClient.readTls(files), servername: cur.servername }
    } catch (err) {
      const msg = (err as Error).message
      if (msg !== this.#tlsError) this.#log?.warn({ err: msg }, 'admin client certificate files cannot be re-read; keeping the old ones')
      this.#tlsError = msg
      return false
    }
    this.#tlsError = ''
    if (next.cert === cur.cert && next.key === cur.key && next.ca === cur.ca) return false
    const old = this.#dispatcher
    this.#tls = next
    this.#dispatcher = this.#agent()
    // Requests still on the old pool finish there.
    old.close().catch(() => {})
    this.#log?.info(files, 'admin client certificate files changed: new connections use them')
    return true
  }

  /**
   * Re-read the token file after a refusal. True when it now holds another token than the
   * refused request carried (then the request is worth sending again).
   */
  #reloadToken (refused: string | undefined): boolean {
    const file = this.#tokenFile
    if (file === undefined) return false
    let token: string
    try {
      token = readFileSync(file, 'utf8').trim()
      if (token === '') throw new Error('the file is empty')
    } catch (err) {
      const msg = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      if (msg !== this.#tokenError) this.#log?.warn({ file, err: msg }, 'admin refused the token and its file cannot be re-read; keeping the old token')
      this.#tokenError = msg
      return false
    }
    this.#tokenError = ''
    const header = `Bearer ${token}`
    if (header === this.#headers.authorization) return header !== refused
    this.#headers.authorization = header
    this.#log?.info({ file }, 'admin refused the token: read a new one from its file')
    return true
  }

  async #send (method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', path: string, payload: string | undefined): Promise<AdminReply> {
    let res: Dispatcher.ResponseData
    try {
      res = await request(new URL(path, this.#base), {
        method,
        headers: this.#headers,
        body: payload,
        dispatcher: this.#dispatcher,
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (err) {
      throw new AdminUnavailable(`${method} ${path}: ${(err as Error).message}`, { cause: err })
    }
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      throw new AdminUnavailable(`${method} ${path}: reading the answer: ${(err as Error).message}`, { cause: err })
    }
    let parsed: unknown
    try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = undefined }
    return { status: res.statusCode, body: parsed, sent: payload === undefined ? 0 : Buffer.byteLength(payload) }
  }

  close (): Promise<void> { return this.#dispatcher.close() }
}

/** `error.message` of an admin error body, for logs. */
export function adminMessage (r: AdminReply): string {
  const e = (r.body as { error?: { code?: string, message?: string, path?: string } } | undefined)?.error
  return e === undefined ? `HTTP ${r.status}` : `${e.code ?? ''} ${e.message ?? ''}`.trim()
}
