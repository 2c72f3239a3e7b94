/**
 * The admin API as one OpenAPI 3.1 document, served at `GET /v1/openapi.json`. Request bodies
 * are the JSON schemas the admin validates with (the config schema's parts and the discovery
 * push schemas, plus the required `revision`), so the document cannot promise more or less than
 * a PUT accepts. The document is built from the router's own route list: a route without an
 * operation below is still listed, flagged `x-undocumented`, and an operation without a route
 * is left out; test/admin/openapi.test.ts fails on either, and checks every example against
 * the document and against a running gateway.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OPERATIONS, type Operation } from './openapi-operations.js'
import { components, ref, type Schema } from './openapi-parts.js'

export { OPERATIONS }

/** The open endpoints (no credentials), served outside the /v1 router. */
const OPEN: Record<string, Schema> = {
  '/ready': {
    get: {
      summary: 'Readiness: 200 when listening and not draining, else 503', security: [], operationId: 'getReady',
      responses: {
        200: { description: 'ready', content: { 'application/json': { schema: { type: 'object', required: ['ready'], properties: { ready: { const: true } } }, example: { ready: true } } } },
        503: { description: 'starting or draining', content: { 'application/json': { schema: { type: 'object', required: ['ready'], properties: { ready: { const: false } } }, example: { ready: false } } } },
      },
    },
  },
  '/healthz': {
    get: { summary: 'Liveness', security: [], operationId: 'getHealthz', responses: { 200: { description: 'alive', content: { 'application/json': { schema: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } }, example: { status: 'ok' } } } } } },
  },
  '/console': {
    get: {
      summary: 'The operator console (HTML, read-only): 200 with a valid session cookie, token or admin certificate, else 401 with the login form', operationId: 'getConsole',
      security: [{ bearer: [] }, { adminCertificate: [] }, { consoleSession: [] }],
      responses: { 200: { description: 'the console page', content: { 'text/html': { schema: { type: 'string' } } } }, 401: { description: 'the login form', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  },
  '/console/login': {
    post: {
      summary: 'Log in with the admin token (form field `token`); sets the session cookie. Origin must be this admin origin', security: [], operationId: 'postConsoleLogin',
      requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', required: ['token'], properties: { token: { type: 'string' } } } } } },
      responses: { 303: { description: 'logged in: redirect to /console with Set-Cookie' }, 401: { description: 'token not accepted (the login form again)' }, 403: { description: 'cross-origin post refused' }, 429: { description: 'too many refused tokens from this address within listeners.admin.console.loginWindowMs (Retry-After); the token is not checked' } },
    },
  },
  '/console/logout': {
    post: { summary: 'End the console session', security: [], operationId: 'postConsoleLogout', responses: { 303: { description: 'logged out: redirect to /console' }, 403: { description: 'cross-origin post refused' } } },
  },
  '/metrics': {
    get: { summary: 'Prometheus metrics (docs/METRICS.md)', security: [], operationId: 'getMetrics', responses: { 200: { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } },
  },
}

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid body or file (code ISTH_ERR_CONFIG_INVALID, path: the JSON pointer of the first error)',
  401: 'no credentials', 403: 'credentials not accepted', 404: 'no such resource', 409: 'stale revision, or a reload that needs a restart',
  413: 'body over listeners.admin.maxBodyBytes', 500: 'internal error',
  503: 'writes: a worker could not apply the change (code ISTH_ERR_WORKER_APPLY, the message names it), nothing changed on any worker; /v1/events: too many event watchers (listeners.admin.console.maxEventClients)',
}

function operationId (key: string): string {
  const [method, path] = key.split(' ')
  const words = path.replace(/^\/v1\//, '').replace(/\.json$/, '').split(/[/.-]/).filter(Boolean).map(w => w.replace(/[{}]/g, ''))
  return method.toLowerCase() + words.map(w => w[0].toUpperCase() + w.slice(1)).join('')
}

function operationObject (key: string, op: Operation): Schema {
  const params: Schema[] = []
  for (const [name, example] of Object.entries(op.params ?? {})) params.push({ name, in: 'path', required: true, schema: { type: 'string' }, example })
  if (op.revisionQuery === true) params.push({ name: 'revision', in: 'query', required: false, schema: ref('Revision'), description: 'instead of a {"revision": n} body' })
  const responses: Schema = {
    [op.status ?? 200]: op.eventStream === true
      ? { description: 'text/event-stream; each `data:` is one JSON object of this schema', content: { 'text/event-stream': { schema: op.response, example: op.responseExample } } }
      : { description: 'OK', content: { 'application/json': { schema: op.response, example: op.responseExample } } },
  }
  for (const s of [401, 403, ...(op.errors ?? [])]) responses[s] = { description: ERROR_TEXT[s], content: { 'application/json': { schema: ref('Error') } } }
  const out: Schema = { operationId: operationId(key), summary: op.summary, responses }
  if (params.length > 0) out.parameters = params
  if (op.body !== undefined) out.requestBody = { required: op.revisionQuery !== true, content: { 'application/json': { schema: op.body, example: op.bodyExample } } }
  return out
}

/** `/v1/clusters/:name` -> `/v1/clusters/{name}`. */
export function openApiPath (pattern: string): string {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

/** The package version (sources: admin/; build: dist/admin/). */
export function packageVersion (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 3; i++, dir = dirname(dir)) {
    const f = join(dir, 'package.json')
    if (existsSync(f)) return (JSON.parse(readFileSync(f, 'utf8')) as { version: string }).version
  }
  return '0.0.0'
}

/**
 * The document for the routes the admin server mounted (`routes`: method and router pattern,
 * in registration order).
 */
export function openApiDocument (routes: ReadonlyArray<{ method: string, pattern: string }>, version: string): Schema {
  const paths: Record<string, Record<string, Schema>> = {}
  for (const r of routes) {
    const path = openApiPath(r.pattern)
    const key = `${r.method} ${path}`
    const op = OPERATIONS[key]
    const item = (paths[path] ??= {})
    item[r.method.toLowerCase()] = op === undefined
      ? { operationId: operationId(key), summary: 'undocumented route', 'x-undocumented': true, responses: { default: { description: 'unknown' } } }
      : operationObject(key, op)
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Isthmus admin API', version,
      description: 'Every write carries a revision (older than stored: 409). Errors are {"error": {"code", "message", "path"}} with the codes of docs/ERRORS.md.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    security: [{ bearer: [] }, { adminCertificate: [] }],
    paths: { ...OPEN, ...paths },
    components,
  }
}
