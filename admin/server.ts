/**
 * The admin listener: `/ready`, `/healthz`, `/metrics` open; everything under `/v1` needs a
 * bearer token or an admin client certificate (admin/auth.ts). Reads are GET only, mutations
 * POST/PUT/PATCH/DELETE only (405 otherwise). Resource endpoints come from admin/routes/ and
 * go through the AdminStore (validate + compile off the hot path, then one swap).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { AdminListenerOptions } from '../gateway/config/options.js'
import { IsthmusError } from '../gateway/errors.js'
import { registry } from '../gateway/metrics.js'
import { AdminAuth } from './auth.js'
import { readJsonBody, sendError, sendJson } from './http.js'
import { openApiDocument, packageVersion } from './openapi.js'
import { AdminRouter, type AdminRequest } from './router.js'
import { mountResourceRoutes } from './routes/resources.js'
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
  /** Directory `tokenFile` resolves against (default: cwd). */
  baseDir?: string
  /** Environment for `tokenEnv` (default: process.env). */
  env?: NodeJS.ProcessEnv
}

export interface AdminServer {
  readonly address: AddressInfo
  /** The node server (https when TLS), so its certificates can be hot-reloaded. */
  readonly server: Server
  close (): Promise<void>
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export async function startAdminServer (deps: AdminDeps): Promise<AdminServer> {
  const o = deps.options
  const requireClientCert = deps.tls !== null && deps.tls.requestCert === true
  const auth = new AdminAuth(o, requireClientCert, deps.baseDir, deps.env)
  const log = deps.logger.child({ component: 'admin' })

  const router = new AdminRouter()
  router.add('GET', '/v1/listeners', () => ({ status: 200, body: { listeners: deps.listeners() } }))
  router.add('POST', '/v1/drain', async () => {
    await deps.drain()
    return { status: 200, body: { drained: true } }
  })
  if (deps.store !== null) mountResourceRoutes(router, deps.store, o.maxBodyBytes)
  const reload = deps.reload
  if (reload !== undefined) router.add('POST', '/v1/reload', async () => ({ status: 200, body: await reload() }))
  // The OpenAPI document lists what this router mounted (admin/openapi.ts).
  const version = packageVersion()
  router.add('GET', '/v1/openapi.json', () => ({ status: 200, body: openApiDocument(router.list(), version) }))

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    serve(req, res).catch((err: unknown) => {
      if (!(err instanceof IsthmusError)) log.error({ err, method: req.method, url: req.url }, 'admin request failed')
      if (!res.headersSent) sendError(res, err)
      else res.destroy()
    })
  }

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://admin')
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
      const text = await registry.metrics()
      res.writeHead(200, { 'content-type': registry.contentType })
      res.end(text)
      return
    }

    const verdict = auth.check(req)
    if (verdict !== 'ok') {
      req.resume()
      if (verdict === 'unauthenticated') {
        return sendError(res, new IsthmusError('ISTH_ERR_ADMIN_UNAUTHORIZED', 'send Authorization: Bearer <token> or an admin client certificate'), { 'www-authenticate': 'Bearer realm="isthmus-admin"' })
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
    if (MUTATING.has(method)) body = await readJsonBody(req, o.maxBodyBytes)
    else req.resume()
    const areq: AdminRequest = { method, params: m.params, query: url.searchParams, body }
    const reply = await m.handler(areq)
    if (MUTATING.has(method)) log.info({ method, path, status: reply.status }, 'admin change')
    sendJson(res, reply.status, reply.body)
  }

  const server: Server = deps.tls === null ? createHttpServer(handle) : createHttpsServer(deps.tls, handle)
  server.keepAliveTimeout = 5000
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
      closing = new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
      return closing
    },
  }
}
