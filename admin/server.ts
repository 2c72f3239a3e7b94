/**
 * The admin listener: `/ready`, `/healthz`, `/metrics` open; everything under `/v1` needs a
 * bearer token or an admin client certificate (admin/auth.ts). Reads are GET only, mutations
 * POST/PUT/PATCH/DELETE only (405 otherwise), with a JSON body or none (415 otherwise).
 * Resource endpoints come from admin/routes/ and go through the AdminStore (validate +
 * compile off the hot path, then one swap). The server has the data listeners' socket
 * discipline: an 'error' listener on every socket, header and request deadlines, a
 * connection cap, each trip counted (`isthmus_limit_trips_total{listener="admin"}`).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { AdminLimits, AdminListenerOptions } from '../gateway/config/options.js'
import { IsthmusError } from '../gateway/errors.js'
import { limitTrips, registry } from '../gateway/metrics.js'
import { AdminAuth } from './auth.js'
import { AdminConsole, DEFAULT_CONSOLE } from './console/mount.js'
import { auditRecent, NO_AUDIT } from './console/audit-view.js'
import { checkMediaType, publicError, readJsonBody, sendError, sendJson } from './http.js'
import { openApiDocument, packageVersion } from './openapi.js'
import { AdminRouter, type AdminRequest } from './router.js'
import { mountResourceRoutes } from './routes/resources.js'
import { readView } from '../gateway/chain/filter-views.js'
import type { AdminStore } from './store.js'

export interface ListenerInfo { host: string, port: number, tls: boolean }

export interface AdminDeps {
  logger: Logger
  options: Readonly<AdminListenerOptions>
  /** https server options (cert/key/ca/requestCert) when the admin listener has TLS. */
  tls: null | HttpsServerOptions
  /** Listeners bound, state restored, not draining. */
  isReady (): boolean
  listeners (): Record<string, ListenerInfo>
  /** Stop accepting, GOAWAY, finish in-flight calls; the process keeps running. */
  drain (): Promise<void>
  /** Re-read the config file and apply it (POST /v1/reload); absent: no such endpoint. */
  reload? (): Promise<object>
  /** The config store behind the /v1 resources; null serves only the basic endpoints. */
  store: AdminStore | null
  /** A multi-worker primary: each worker's generation, shown in GET /v1/config. */
  workers? (): ReadonlyArray<{ worker: number, pid: number | null, generation: number, state: string }>
  /** A multi-worker primary: the /metrics text summed over its workers (default: this process's registry). */
  metrics? (): Promise<string>
  /** Directory `tokenFile` resolves against (default: cwd). */
  baseDir?: string
  /** Environment for `tokenEnv` (default: process.env). */
  env?: NodeJS.ProcessEnv
  /** The entity name the console shows. */
  entity?: string
}

export interface AdminServer {
  readonly address: AddressInfo
  /** The node server (https when TLS), so its certificates can be hot-reloaded. */
  readonly server: Server
  close (): Promise<void>
}

const EMPTY_MISMATCHES = Object.freeze({ total: 0, kept: 0, capacity: 0, mismatches: [] })
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const CLOSE_GRACE_MS = 2000
const DEFAULT_LIMITS: AdminLimits = Object.freeze({ headersTimeoutMs: 10000, requestTimeoutMs: 60000, maxConnections: 256 })

// Trip counters of the admin server's bounds.
const TRIP_HEADERS = limitTrips('admin', 'headers')
const TRIP_REQUEST = limitTrips('admin', 'request')
const TRIP_CONNECTIONS = limitTrips('admin', 'connections')
/** A request of this socket is being served (its reply may have started): set per request. */
const kBusy = Symbol('isthmus.admin.busy')
type AdminSocket = Duplex & { [kBusy]?: boolean }

// Module-level listeners (no closure per socket).
function onSocketError (this: Socket): void { this.destroy() }
function onConnection (socket: Socket): void { socket.on('error', onSocketError) }
function onDrop (): void { TRIP_CONNECTIONS.n++ }
function onResponseDone (this: ServerResponse): void { const s = this.socket as AdminSocket | null; if (s !== null) s[kBusy] = false }

/**
 * A request the parser or a deadline refused. With no reply under way, answer the status
 * (as Node's default does) before closing; else only close: bytes after a started reply
 * would corrupt it for the peer.
 */
function onClientError (err: NodeJS.ErrnoException, socket: AdminSocket): void {
  const busy = socket[kBusy] === true
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') (busy ? TRIP_REQUEST : TRIP_HEADERS).n++
  if (!busy && socket.writable && err.code !== 'ECONNRESET') {
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  }
  socket.destroy()
}

export async function startAdminServer (deps: AdminDeps): Promise<AdminServer> {
  const o = deps.options
  const requireClientCert = deps.tls !== null && deps.tls.requestCert === true
  const auth = new AdminAuth(o, requireClientCert, deps.baseDir, deps.env)
  const log = deps.logger.child({ component: 'admin' })

  const adminConsole = new AdminConsole({
    logger: log, auth, tls: deps.tls !== null, entity: deps.entity ?? '', options: o.console ?? DEFAULT_CONSOLE, listeners: deps.listeners, store: deps.store,
  })

  const router = new AdminRouter()
  router.add('GET', '/v1/listeners', () => ({ status: 200, body: { listeners: deps.listeners() } }))
  // Published by the mirror filter (filters/mirror/samples.ts); empty when it never ran.
  router.add('GET', '/v1/mirror/mismatches', () => ({ status: 200, body: readView('mirror/mismatches') ?? EMPTY_MISMATCHES }))
  // Published by the audit filter (filters/audit/recent.ts); `enabled: false` where it does not run.
  router.add('GET', '/v1/audit/recent', () => {
    const recent = auditRecent()
    return { status: 200, body: { enabled: recent !== null, ...(recent ?? NO_AUDIT) } }
  })
  router.add('POST', '/v1/drain', async () => {
    await deps.drain()
    return { status: 200, body: { drained: true } }
  })
  if (deps.store !== null) mountResourceRoutes(router, deps.store, o.maxBodyBytes, deps.workers)
  const reload = deps.reload
  if (reload !== undefined) router.add('POST', '/v1/reload', async () => ({ status: 200, body: await reload() }))
  adminConsole.mountRoutes(router)
  // The OpenAPI document lists what this router mounted (admin/openapi.ts).
  const version = packageVersion()
  router.add('GET', '/v1/openapi.json', () => ({ status: 200, body: openApiDocument(router.list(), version) }))

  let refs = 0
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    (req.socket as AdminSocket)[kBusy] = true
    res.on('finish', onResponseDone)
    serve(req, res).catch((err: unknown) => {
      // Client errors go back as they are; anything else is logged here, once, and the
      // client gets the code and a reference to the log line, never the internal message.
      let ref: string | undefined
      if (publicError(err).internal) {
        ref = `${process.pid.toString(36)}-${(++refs).toString(36)}`
        log.error({ err, method: req.method, url: req.url?.slice(0, 200), ref }, 'admin request failed')
      }
      if (!res.headersSent) sendError(res, err, undefined, ref)
      else res.destroy()
    })
  }

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://admin')
    } catch {
      req.resume()
      throw new IsthmusError('ISTH_ERR_ADMIN_BAD_REQUEST', 'request target is not a valid URL')
    }
    const path = url.pathname
    const method = req.method ?? 'GET'
    if (path === '/ready' || path === '/healthz' || path === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') {
        req.resume()
        return sendError(res, new IsthmusError('ISTH_ERR_ADMIN_METHOD', `${method} ${path}`), { allow: 'GET' })
      }
      if (path === '/healthz') return sendJson(res, 200, { status: 'ok' })
      if (path === '/ready') {
        const ready = deps.isReady()
        return sendJson(res, ready ? 200 : 503, { ready })
      }
      const text = deps.metrics === undefined ? await registry.metrics() : await deps.metrics()
      res.writeHead(200, { 'content-type': registry.contentType })
      res.end(text)
      return
    }

    // The console: its page, login, assets (admin/console/mount.ts).
    if ((path === '/console' || path.startsWith('/console/')) && await adminConsole.serve(req, res, path, method)) return

    let verdict = auth.check(req)
    let principal = ''
    // A console session authenticates reads only: a write still needs the token or a certificate.
    if (verdict === 'unauthenticated' && (method === 'GET' || method === 'HEAD') && adminConsole.hasSession(req)) { verdict = 'ok'; principal = 'session' }
    if (verdict !== 'ok') {
      req.resume()
      if (verdict === 'unauthenticated') {
        return sendError(res, new IsthmusError('ISTH_ERR_ADMIN_UNAUTHORIZED', 'send Authorization: Bearer <token> or an admin client certificate'), { 'www-authenticate': 'Bearer realm="isthmus-admin"' })
      }
      if (verdict === 'foreign') {
        return sendError(res, new IsthmusError('ISTH_ERR_ADMIN_FORBIDDEN', 'without a token the admin API answers only requests whose Host and Origin are loopback (a web page or a rebound DNS name is refused); configure listeners.admin.token to call it from elsewhere'))
      }
      return sendError(res, new IsthmusError('ISTH_ERR_ADMIN_FORBIDDEN', 'credentials not accepted'))
    }

    const m = router.match(method, path)
    if (m.kind === 'none') {
      req.resume()
      return sendError(res, new IsthmusError('ISTH_ERR_ADMIN_NOT_FOUND', path))
    }
    if (m.kind === 'method') {
      req.resume()
      return sendError(res, new IsthmusError('ISTH_ERR_ADMIN_METHOD', `${method} ${path} (allowed: ${m.allowed.join(', ')})`), { allow: m.allowed.join(', ') })
    }
    let body: unknown
    if (MUTATING.has(method)) {
      checkMediaType(req)
      body = await readJsonBody(req, o.maxBodyBytes)
    } else req.resume()
    const areq: AdminRequest = { method, params: m.params, query: url.searchParams, body, principal: principal === '' ? auth.who(req) : principal }
    const reply = await m.handler(areq)
    if (MUTATING.has(method)) log.info({ method, path, status: reply.status, who: areq.principal }, 'admin change')
    if (reply.stream !== undefined) reply.stream(req, res)
    else sendJson(res, reply.status, reply.body)
  }

  const limits = o.limits ?? DEFAULT_LIMITS
  // Deadlines are checked every connectionsCheckingInterval (Node's default, 30 s, would let a
  // silent client hold a socket up to 40 s past a 10 s bound).
  const requestTimeout = limits.requestTimeoutMs
  const httpOptions = { headersTimeout: Math.min(limits.headersTimeoutMs, requestTimeout), requestTimeout, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) }
  const server: Server = deps.tls === null ? createHttpServer(httpOptions, handle) : createHttpsServer({ ...deps.tls, ...httpOptions }, handle)
  server.keepAliveTimeout = 5000
  server.maxConnections = limits.maxConnections
  server.on('connection', onConnection)
  server.on('drop', onDrop)
  server.on('clientError', onClientError)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { reject(new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/listeners/admin: cannot listen on ${o.host}:${o.port}: ${err.message}`, '/listeners/admin', { cause: err })) }
    server.once('error', onError)
    server.listen(o.port, o.host, () => { server.off('error', onError); resolve() })
  })
  const address = server.address() as AddressInfo
  log.info({ host: address.address, port: address.port, tls: deps.tls !== null }, 'admin listening')

  let closing: Promise<void> | null = null
  return {
    address,
    server,
    close (): Promise<void> {
      if (closing !== null) return closing
      adminConsole.close()
      closing = new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // close() also stops the deadline checks: a connection that never sends a request
        // would hold it open for good. Requests in flight get a grace, then everything goes.
        setTimeout(() => { server.closeAllConnections() }, CLOSE_GRACE_MS).unref()
      })
      return closing
    },
  }
}
