/**
 * HTTP client of the gateway's admin API (README "Admin API reference"): Bearer token or an
 * admin client certificate, JSON bodies, a deadline on every request. The bridge only calls
 * the API over HTTP; it never imports admin/.
 */
import { readFileSync } from 'node:fs'
import { Agent, request, type Dispatcher } from 'undici'

export interface AdminClientOptions {
  /** Base URL, e.g. http://127.0.0.1:9901 or https://gw-admin:9901. */
  url: string
  token?: string
  /** Admin mTLS: PEM client certificate and key, and the CA that verifies the admin server. */
  tls?: { cert?: string, key?: string, ca?: string, servername?: string }
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
  readonly #dispatcher: Dispatcher
  readonly #timeoutMs: number

  constructor (o: AdminClientOptions) {
    this.#base = new URL(o.url)
    this.#headers = { 'content-type': 'application/json', accept: 'application/json' }
    if (o.token !== undefined) this.#headers.authorization = `Bearer ${o.token}`
    this.#timeoutMs = o.timeoutMs
    const connect = o.tls === undefined ? {} : {
      cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, servername: o.tls.servername,
    }
    this.#dispatcher = new Agent({ connect, connections: 16, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs })
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
