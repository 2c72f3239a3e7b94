/**
 * The console on the admin listener: `/console` (the page; 401 with the login form without
 * credentials), `/console/login` and `/console/logout` (POST), the static script, style and
 * icon, and the read-only /v1 routes behind it (`/v1/events`, `/v1/revisions`, a diff). A
 * session cookie authenticates reads only (GET/HEAD); writes still need the token or an
 * admin certificate, so the console cannot change anything. The login POST is CSRF-safe: its
 * Origin (and Sec-Fetch-Site, when sent) must be this admin origin, and the cookie is
 * SameSite=Strict, so no other site's page can use it. Refused logins are bounded per source
 * address (login-limit.ts): past the bound, 429 with Retry-After.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { IsthmusError } from '../../gateway/errors.js'
import { limitTrips } from '../../gateway/metrics.js'
import type { AdminConsoleOptions } from '../../gateway/config/options.js'
import type { AdminAuth } from '../auth.js'
import { sendError } from '../http.js'
import type { AdminRouter } from '../router.js'
import type { ListenerInfo } from '../server.js'
import type { AdminStore } from '../store.js'
import { APP_JS } from './app-js.js'
import { renderDiff } from './diff.js'
import { EventHub } from './events.js'
import { consolePage, FAVICON_SVG, loginPage, securityHeaders, sendHtml, STYLE_CSS } from './page.js'
import { RateTracker } from './rates.js'
import { SessionTable, sessionCookie, setCookieValue } from './session.js'
import { DEFAULT_LOGIN_MAX_FAILURES, DEFAULT_LOGIN_WINDOW_MS, LoginLimiter } from './login-limit.js'
import { buildState } from './state.js'

export const DEFAULT_CONSOLE: Readonly<AdminConsoleOptions> = Object.freeze({
  maxSessions: 64, sessionTtlMs: 8 * 60 * 60 * 1000, historyRecords: 50, maxEventClients: 128, maxEventBufferBytes: 1024 * 1024, eventIntervalMs: 1000,
  loginMaxFailures: DEFAULT_LOGIN_MAX_FAILURES, loginWindowMs: DEFAULT_LOGIN_WINDOW_MS,
})

/** A login form body is one short field. */
const MAX_LOGIN_BYTES = 4096
/** Logins answered 429 (a source past `loginMaxFailures`). */
const TRIP_LOGIN = limitTrips('admin', 'login_failures')

export interface ConsoleDeps {
  logger: Logger
  auth: AdminAuth
  tls: boolean
  entity: string
  options: Readonly<AdminConsoleOptions>
  listeners (): Record<string, ListenerInfo>
  store: AdminStore | null
}

const STATIC: Record<string, { type: string, body: string }> = {
  '/console/app.js': { type: 'text/javascript; charset=utf-8', body: APP_JS },
  '/console/style.css': { type: 'text/css; charset=utf-8', body: STYLE_CSS },
  '/console/favicon.svg': { type: 'image/svg+xml', body: FAVICON_SVG },
}

export class AdminConsole {
  readonly sessions: SessionTable
  readonly events: EventHub
  readonly logins: LoginLimiter
  readonly #d: ConsoleDeps
  readonly #rates = new RateTracker()

  constructor (d: ConsoleDeps) {
    this.#d = d
    this.sessions = new SessionTable(d.options.maxSessions, d.options.sessionTtlMs)
    this.logins = new LoginLimiter(d.options.loginMaxFailures ?? DEFAULT_LOGIN_MAX_FAILURES, d.options.loginWindowMs ?? DEFAULT_LOGIN_WINDOW_MS)
    this.events = new EventHub({ listeners: d.listeners, store: d.store, rates: this.#rates },
      { maxClients: d.options.maxEventClients, maxBufferedBytes: d.options.maxEventBufferBytes, intervalMs: d.options.eventIntervalMs }, d.logger)
  }

  /** The request carries a live console session (it may read, never write). */
  hasSession (req: IncomingMessage): boolean {
    const id = sessionCookie(req)
    return id !== null && this.sessions.valid(id)
  }

  /** Mount the console's /v1 reads on the admin router. */
  mountRoutes (router: AdminRouter): void {
    router.add('GET', '/v1/events', () => ({ status: 200, body: undefined, stream: (req, res) => { if (req.method === 'HEAD') headOnly(res); else this.events.attach(req, res) } }))
    const store = this.#d.store
    if (store === null) return
    router.add('GET', '/v1/revisions', () => ({ status: 200, body: { generation: store.generation, oldestBase: store.history.oldestBase, revisions: store.history.list() } }))
    router.add('GET', '/v1/revisions/:from/diff/:to', (req) => {
      const from = generationParam(req.params.from, 'from')
      const to = generationParam(req.params.to, 'to')
      const a = Math.min(from, to)
      const b = Math.max(from, to)
      const changes = a === b ? [] : store.history.between(a, b)
      if (changes === null) throw new IsthmusError('ISTH_ERR_ADMIN_NOT_FOUND', `generations ${a}..${b}: the history keeps generations ${store.history.oldestBase}..${store.generation}`)
      return { status: 200, body: { from: a, to: b, resources: renderDiff(changes) } }
    })
  }

  /** Serve a /console path; false when `path` is not one. */
  async serve (req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<boolean> {
    const asset = STATIC[path]
    if (asset !== undefined) {
      req.resume()
      if (method !== 'GET' && method !== 'HEAD') { sendError(res, new IsthmusError('ISTH_ERR_ADMIN_METHOD', `${method} ${path}`), { allow: 'GET' }); return true }
      res.writeHead(200, { ...securityHeaders(), 'cache-control': 'no-cache', 'content-type': asset.type, 'content-length': Buffer.byteLength(asset.body) })
      res.end(method === 'HEAD' ? undefined : asset.body)
      return true
    }
    if (path === '/console/login') { await this.#login(req, res, method); return true }
    if (path === '/console/logout') { this.#logout(req, res, method); return true }
    if (path !== '/console' && path !== '/console/') return false
    req.resume()
    if (method !== 'GET' && method !== 'HEAD') { sendError(res, new IsthmusError('ISTH_ERR_ADMIN_METHOD', `${method} ${path}`), { allow: 'GET' }); return true }
    const verdict = this.#d.auth.check(req)
    if (verdict === 'foreign') { sendHtml(res, 403, loginPage('this admin API answers loopback requests only', false)); return true }
    if (verdict === 'forbidden') { sendHtml(res, 403, loginPage('credentials not accepted', this.#d.auth.tokenLogin)); return true }
    if (verdict !== 'ok' && !this.hasSession(req)) {
      sendHtml(res, 401, loginPage(null, this.#d.auth.tokenLogin), { 'www-authenticate': 'Bearer realm="isthmus-admin"' })
      return true
    }
    this.#rates.sample()
    sendHtml(res, 200, consolePage(await buildState({ listeners: this.#d.listeners, store: this.#d.store, rates: this.#rates }), this.#d.entity))
    return true
  }

  close (): void { this.events.close() }

  async #login (req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (method !== 'POST') { req.resume(); sendError(res, new IsthmusError('ISTH_ERR_ADMIN_METHOD', `${method} /console/login`), { allow: 'POST' }); return }
    const source = req.socket.remoteAddress
    const wait = this.logins.blockedFor(source)
    if (wait > 0) {
      // Refused before the token is read: a throttled source learns nothing about it.
      req.resume()
      TRIP_LOGIN.n++
      const s = Math.ceil(wait / 1000)
      sendHtml(res, 429, loginPage(`too many refused logins from this address: try again in ${s} s`, this.#d.auth.tokenLogin), { 'retry-after': String(s) })
      return
    }
    if (!this.#sameOrigin(req)) {
      req.resume()
      sendHtml(res, 403, loginPage('login refused: the form must be posted from this console (Origin check)', this.#d.auth.tokenLogin))
      return
    }
    const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    if (ct !== 'application/x-www-form-urlencoded') { req.resume(); sendError(res, new IsthmusError('ISTH_ERR_ADMIN_MEDIA_TYPE', 'the login form posts application/x-www-form-urlencoded')); return }
    const body = await readSmallBody(req, MAX_LOGIN_BYTES)
    const token = body === null ? null : new URLSearchParams(body).get('token')
    if (token === null || !this.#d.auth.tokenMatches(token.trim())) {
      this.logins.fail(source)
      const throttled = this.logins.blockedFor(source) > 0
      this.#d.logger.warn({ remote: source, throttled }, throttled ? 'console login refused; further logins from this source answer 429 until its window ends' : 'console login refused')
      sendHtml(res, 401, loginPage('token not accepted', this.#d.auth.tokenLogin))
      return
    }
    this.logins.succeed(source)
    const id = this.sessions.create()
    this.#d.logger.info({ remote: req.socket.remoteAddress, sessions: this.sessions.size }, 'console login')
    res.writeHead(303, { ...securityHeaders(), location: '/console', 'set-cookie': setCookieValue(id, this.#d.tls, this.sessions.ttlMs), 'content-length': 0 })
    res.end()
  }

  #logout (req: IncomingMessage, res: ServerResponse, method: string): void {
    req.resume()
    if (method !== 'POST') { sendError(res, new IsthmusError('ISTH_ERR_ADMIN_METHOD', `${method} /console/logout`), { allow: 'POST' }); return }
    if (!this.#sameOrigin(req)) { sendHtml(res, 403, loginPage('logout refused: cross-origin request', this.#d.auth.tokenLogin)); return }
    const id = sessionCookie(req)
    if (id !== null) this.sessions.delete(id)
    res.writeHead(303, { ...securityHeaders(), location: '/console', 'set-cookie': setCookieValue('', this.#d.tls, 0), 'content-length': 0 })
    res.end()
  }

  /** Origin (required) names this admin's scheme and Host; Sec-Fetch-Site, when sent, says same-origin. */
  #sameOrigin (req: IncomingMessage): boolean {
    const site = req.headers['sec-fetch-site']
    if (site !== undefined && site !== 'same-origin') return false
    const origin = req.headers.origin
    const host = req.headers.host
    if (origin === undefined || host === undefined) return false
    return origin.toLowerCase() === `${this.#d.tls ? 'https' : 'http'}://${host.toLowerCase()}`
  }
}

function headOnly (res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' })
  res.end()
}

function generationParam (v: string, name: string): number {
  if (!/^[0-9]{1,15}$/.test(v)) throw new IsthmusError('ISTH_ERR_ADMIN_BAD_REQUEST', `${name}: a generation is a positive integer`, `/${name}`)
  return Number(v)
}

/** The body as text, or null past `limit` bytes (the rest is drained, not buffered). */
async function readSmallBody (req: IncomingMessage, limit: number): Promise<string | null> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) { req.resume(); return null }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size).toString('utf8')
}
