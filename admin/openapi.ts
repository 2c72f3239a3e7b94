/**
 * The admin API as one OpenAPI 3.1 document, served at `GET /v1/openapi.json`. Request bodies
 * are the JSON schemas the admin validates with (the config schema's parts and the discovery
 * push schemas, plus the required `revision`), so the document cannot promise more or less than
 * a PUT accepts. The document is built from the router's own route list: a route without an
 * operation below is still listed, flagged `x-undocumented`, and an operation without a route
 * is left out; test/admin/openapi.test.ts fails on either, and checks every example against
 * the document and against a running gateway.
 */
import { clusterSchema, filterEntrySchema, gatewaySchema, hostSchema, ldcSchema, policiesSchema, routeSchema } from '../gateway/config/schema.js'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { appPushSchema, instanceSchema, revisionSchema, servicePushSchema } from './discovery/schema.js'
import { auditRecent, auditRecord, consoleState } from './console/openapi-schema.js'

type Schema = Record<string, unknown>
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })

/** A schema without `$id` (it would rebase every `$ref` inside the document). */
function plain (schema: object): Schema {
  const { $id: _id, ...rest } = structuredClone(schema) as Schema
  return rest
}

/** An object schema with `revision` added and required (what the admin's validators do). */
function withRevision (schema: object, required: readonly string[] = []): Schema {
  const s = plain(schema) as { properties: Record<string, unknown>, required?: string[] }
  return { ...s, properties: { revision: ref('Revision'), ...s.properties }, required: [...new Set(['revision', ...(s.required ?? []), ...required])] }
}

const writeResult: Schema = {
  type: 'object', additionalProperties: false, required: ['key', 'revision', 'changed', 'generation'],
  properties: {
    key: { type: 'string', description: 'the resource key (cluster/<name>, app/<app>, service/<service>, filter/<name>, routes, ldc, policies)' },
    revision: ref('Revision'),
    changed: { type: 'boolean', description: 'false: the same revision with the same content was already stored (a replay)' },
    generation: { type: 'integer', description: 'snapshot generation now live' },
  },
}
const revisionAndName = { type: 'object', additionalProperties: false, required: ['name', 'revision'], properties: { name: { type: 'string' }, revision: ref('Revision') } }
const listOf = (key: string, item: Schema): Schema => ({ type: 'object', additionalProperties: false, required: [key], properties: { [key]: { type: 'array', items: item } } })

const components: Schema = {
  securitySchemes: {
    bearer: { type: 'http', scheme: 'bearer', description: 'listeners.admin token / tokenFile / tokenEnv (compared in constant time)' },
    consoleSession: { type: 'apiKey', in: 'cookie', name: 'isthmus_console', description: 'console session from POST /console/login; authenticates reads (GET) only' },
    adminCertificate: { type: 'mutualTLS', description: 'a client certificate whose SPIFFE identity is in listeners.admin.adminIdentities' },
  },
  schemas: {
    Revision: { ...revisionSchema, description: 'older than the stored revision: 409; equal with other content: 409' },
    Error: {
      type: 'object', additionalProperties: false, required: ['error'],
      properties: {
        error: {
          type: 'object', additionalProperties: false, required: ['code', 'message'],
          properties: { code: { type: 'string', pattern: '^ISTH_ERR_[A-Z0-9_]+$', description: 'docs/ERRORS.md' }, message: { type: 'string' }, path: { type: 'string', description: 'JSON pointer of the offending input' } },
        },
      },
    },
    WriteResult: writeResult,
    MirrorResponse: {
      type: 'object', additionalProperties: false, required: ['status', 'grpcStatus', 'bytes', 'digest'],
      properties: {
        status: { type: 'integer', description: 'Triple: HTTP status; Bolt: response status' },
        grpcStatus: { type: 'integer', description: '-1 when not a gRPC call' },
        bytes: { type: 'integer', description: 'response body bytes' },
        digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
      },
    },
    ConsoleState: consoleState,
    AuditRecord: auditRecord,
    RevisionRecord: { type: 'object', additionalProperties: false, required: ['generation', 'at', 'who', 'keys'], properties: { generation: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, who: { type: 'string', description: 'token, cert <identity>, loopback, session, redis <node>, config reload, start' }, keys: { type: 'array', items: { type: 'string' } } } },
    Config: plain(gatewaySchema),
    Cluster: plain(clusterSchema),
    Host: plain(hostSchema),
    Route: plain(routeSchema),
    FilterEntry: plain(filterEntrySchema),
    Ldc: plain(ldcSchema),
    Policies: plain(policiesSchema),
    Instance: plain(instanceSchema),
    AppPush: plain(appPushSchema),
    ServicePush: plain(servicePushSchema),
    HostRef: {
      oneOf: [
        { type: 'string', pattern: '^.+:[0-9]{1,5}$', description: 'address:port' },
        { type: 'object', additionalProperties: false, required: ['address', 'port'], properties: { address: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } } },
      ],
    },
  },
}

interface Operation {
  summary: string
  /** Request body schema (mutations). */
  body?: Schema
  bodyExample?: unknown
  /** Documented success status and its body schema. */
  status?: number
  response: Schema
  responseExample: unknown
  /** Path parameter examples, by name. */
  params?: Record<string, string>
  /** Error statuses besides 401/403. */
  errors?: number[]
  /** DELETE: the revision may come as ?revision= instead of a body. */
  revisionQuery?: boolean
  /** A Server-Sent Events stream: `response` is the schema of each event's data. */
  eventStream?: boolean
}

const int = { type: 'integer' } as const
/** GET /v1/clusters/{name} `state`: the live cluster (cluster/outlier.ts). */
const CLUSTER_STATE: Schema = {
  type: 'object',
  additionalProperties: false,
  description: 'live state: calls in flight, circuit-breaker counts, and each host\'s health, ejections and load',
  properties: {
    inFlight: int, pending: int, retriesInFlight: int, connections: int, ejected: int,
    hosts: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'healthy', 'ejected', 'ejections', 'active'],
        properties: {
          id: { type: 'string' },
          healthy: { type: 'boolean', description: 'active health check verdict' },
          ejected: { type: 'boolean', description: 'out by outlier detection now' },
          ejectedForMs: { ...int, description: 'until readmission' },
          ejections: { ...int, description: 'ejections so far' },
          ejectLevel: { ...int, description: 'ejections not yet decayed: the next lasts (ejectLevel + 1) x ejectMs' },
          lastEjectReason: { enum: ['connect', 'reset', 'status', 'success_rate'] },
          lastEjectMs: { ...int, description: 'how long the last ejection lasts (grows with each ejection, up to maxEjectMs)' },
          consecutiveFailures: int,
          consecutiveStatusFailures: int,
          successRate: { type: 'number', description: 'of the last success-rate interval with enough calls' },
          active: { ...int, description: 'calls in flight on the host' },
        },
      },
    },
  },
}
const WRITE_ERRORS = [400, 409, 413, 503]
const written = { key: 'cluster/payments', revision: 1, changed: true, generation: 2 }

/** Every /v1 operation, keyed `METHOD /path/{param}` (the router's patterns with {} for :). */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  'GET /v1/openapi.json': { summary: 'This document', response: { type: 'object', required: ['openapi', 'paths'] }, responseExample: { openapi: '3.1.0', info: { title: 'Isthmus admin API', version: '0.1.0' }, paths: {} } },
  'GET /v1/events': {
    summary: 'Server-Sent Events: a `state` event (the console state: listeners, routes with calls/s, clusters and hosts, discovery, revisions, LDC, filter counters, recent audit records) once a second. Bounded watchers (503 past listeners.admin.console.maxEventClients); a watcher that does not read is dropped',
    eventStream: true, response: ref('ConsoleState'),
    responseExample: { at: '2026-01-01T00:00:00.000Z', generation: 1, listeners: [{ name: 'triple', address: '127.0.0.1:9090', tls: false, connections: 0 }], routes: [], clusters: [], discovery: { apps: [], total: 0 }, revisions: [{ generation: 1, at: '2026-01-01T00:00:00.000Z', who: 'start', keys: [] }], ldc: null, counters: [], audit: null },
    errors: [503],
  },
  'GET /v1/revisions': {
    summary: 'The last accepted config changes (newest first): generation, when, who, which resources',
    response: { type: 'object', additionalProperties: false, required: ['generation', 'oldestBase', 'revisions'], properties: { generation: { type: 'integer' }, oldestBase: { type: 'integer', description: 'the oldest generation a diff can start from' }, revisions: { type: 'array', items: ref('RevisionRecord') } } },
    responseExample: { generation: 2, oldestBase: 1, revisions: [{ generation: 2, at: '2026-01-01T00:00:00.000Z', who: 'token', keys: ['app/greeter-app'] }, { generation: 1, at: '2026-01-01T00:00:00.000Z', who: 'start', keys: [] }] },
  },
  'GET /v1/revisions/{from}/diff/{to}': {
    summary: 'What changed between two kept generations: per resource, a unified diff of its JSON (secrets redacted)',
    params: { from: '1', to: '2' },
    response: {
      type: 'object', additionalProperties: false, required: ['from', 'to', 'resources'],
      properties: {
        from: { type: 'integer' }, to: { type: 'integer' },
        resources: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['key', 'kind', 'revisionBefore', 'revisionAfter', 'hunks'], properties: { key: { type: 'string' }, kind: { enum: ['added', 'removed', 'changed', 'tooLarge'] }, revisionBefore: { type: ['integer', 'null'] }, revisionAfter: { type: ['integer', 'null'] }, hunks: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['header', 'lines'], properties: { header: { type: 'string' }, lines: { type: 'array', items: { type: 'string' } } } } } } } },
      },
    },
    responseExample: { from: 1, to: 2, resources: [{ key: 'cluster/payments', kind: 'added', revisionBefore: null, revisionAfter: 1, hunks: [{ header: '@@ -0,0 +1,3 @@', lines: ['+{', '+  "name": "payments"', '+}'] }] }] },
    errors: [400, 404],
  },
  'GET /v1/listeners': {
    summary: 'Bound listener addresses',
    response: { type: 'object', required: ['listeners'], properties: { listeners: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, required: ['host', 'port', 'tls'], properties: { host: { type: 'string' }, port: { type: 'integer' }, tls: { type: 'boolean' } } } } } },
    responseExample: { listeners: { triple: { host: '127.0.0.1', port: 9090, tls: false }, admin: { host: '127.0.0.1', port: 9901, tls: false } } },
  },
  'POST /v1/drain': {
    summary: 'Drain without exiting: stop accepting, GOAWAY, finish calls in flight; /ready turns 503. One-way: only a restart accepts calls again',
    response: { type: 'object', additionalProperties: false, required: ['drained'], properties: { drained: { const: true } } },
    responseExample: { drained: true },
  },
  'POST /v1/reload': {
    summary: 'Re-read the config file and apply it like an admin write (as SIGHUP does); pushed resources stay on top',
    response: {
      type: 'object', additionalProperties: false, required: ['file', 'changed', 'generation', 'shadowed'],
      properties: { file: { type: 'string' }, changed: { type: 'boolean' }, generation: { type: 'integer' }, shadowed: { type: 'array', items: { type: 'string' }, description: 'file changes overridden by pushed resources' } },
    },
    responseExample: { file: '/etc/isthmus/config.yaml', changed: true, generation: 7, shadowed: [] },
    errors: [400, 409, 500, 503],
  },
  'GET /v1/config': {
    summary: 'The effective config (file + pushed resources), secrets redacted',
    response: {
      type: 'object', additionalProperties: false, required: ['generation', 'config'],
      properties: {
        generation: { type: 'integer' },
        workers: {
          type: 'array',
          description: 'multi-worker gateway (workers > 1): each worker process and the generation it serves',
          items: {
            type: 'object', additionalProperties: false, required: ['worker', 'pid', 'generation', 'state', 'restarts'],
            properties: { worker: { type: 'integer' }, pid: { type: ['integer', 'null'] }, generation: { type: 'integer' }, state: { enum: ['starting', 'ready', 'draining', 'exited'] }, restarts: { type: 'integer' } },
          },
        },
        config: ref('Config'),
      },
    },
    responseExample: { generation: 1, config: { entity: 'acme', listeners: { admin: { host: '127.0.0.1', port: 9901, token: '[redacted]' } } } },
  },
  'GET /v1/clusters': {
    summary: 'Clusters with their source and revision',
    response: listOf('clusters', { type: 'object', additionalProperties: false, required: ['name', 'protocol', 'hosts', 'source', 'revision'], properties: { name: { type: 'string' }, protocol: { enum: ['triple', 'bolt', 'http1'] }, hosts: { type: 'integer' }, source: { enum: ['config', 'admin', 'discovery'] }, revision: ref('Revision') } }),
    responseExample: { clusters: [{ name: 'payments', protocol: 'triple', hosts: 1, source: 'admin', revision: 1 }] },
  },
  'GET /v1/clusters/{name}': {
    summary: 'One cluster',
    params: { name: 'payments' },
    response: { type: 'object', additionalProperties: false, required: ['revision', 'source', 'cluster'], properties: { revision: ref('Revision'), source: { enum: ['config', 'admin', 'discovery'] }, cluster: ref('Cluster'), shardHosts: { type: 'integer', description: 'hosts this replica keeps (shard.percent)' }, state: CLUSTER_STATE } },
    responseExample: {
      revision: 1, source: 'admin', cluster: { name: 'payments', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: 50061 }] },
      state: { inFlight: 3, pending: 0, retriesInFlight: 0, connections: 1, ejected: 0, hosts: [{ id: '127.0.0.1:50061', healthy: true, ejected: false, ejections: 1, ejectLevel: 0, lastEjectReason: 'status', lastEjectMs: 10000, consecutiveFailures: 0, consecutiveStatusFailures: 0, successRate: 0.998, active: 3 }] },
    },
    errors: [404],
  },
  'PUT /v1/clusters/{name}': {
    summary: 'Create or replace a cluster (a cluster as in the config file, plus revision; the name comes from the path)',
    params: { name: 'payments' },
    body: { ...withRevision(clusterSchema, ['protocol']), required: ['revision', 'protocol'] },
    bodyExample: { revision: 1, protocol: 'triple', hosts: [{ address: '127.0.0.1', port: 50061, labels: { version: 'v1' } }] },
    response: ref('WriteResult'), responseExample: written, errors: WRITE_ERRORS,
  },
  'DELETE /v1/clusters/{name}': {
    summary: 'Delete a cluster pushed through the admin API (or hide one from the config file)',
    params: { name: 'payments' }, revisionQuery: true,
    body: { type: 'object', additionalProperties: false, required: ['revision'], properties: { revision: ref('Revision') } },
    bodyExample: { revision: 3 },
    response: ref('WriteResult'), responseExample: { ...written, revision: 3 }, errors: [...WRITE_ERRORS, 404],
  },
  'PATCH /v1/clusters/{name}/hosts': {
    summary: 'Add and remove hosts incrementally',
    params: { name: 'payments' },
    body: { type: 'object', additionalProperties: false, required: ['revision'], properties: { revision: ref('Revision'), add: { type: 'array', items: ref('Host') }, remove: { type: 'array', items: ref('HostRef') } } },
    bodyExample: { revision: 2, add: [{ address: '127.0.0.1', port: 50062 }], remove: ['127.0.0.1:50061'] },
    response: ref('WriteResult'), responseExample: { ...written, revision: 2 }, errors: [...WRITE_ERRORS, 404],
  },
  'GET /v1/discovery/apps': {
    summary: 'Apps pushed with application-level discovery',
    response: listOf('apps', revisionAndName), responseExample: { apps: [{ name: 'greeter-app', revision: 1 }] },
  },
  'GET /v1/discovery/apps/{app}': {
    summary: 'One app as pushed',
    params: { app: 'greeter-app' },
    response: ref('AppPush'),
    responseExample: { revision: 1, instances: [{ address: '127.0.0.1', port: 50051, protocols: ['triple'] }], services: [{ name: 'isthmus.example.Greeter' }] },
    errors: [404],
  },
  'PUT /v1/discovery/apps/{app}': {
    summary: "Application-level push: the app's instances and the services it exports (one cluster per protocol, <app>:<protocol>)",
    params: { app: 'greeter-app' },
    body: ref('AppPush'),
    bodyExample: { revision: 1, instances: [{ address: '127.0.0.1', port: 50051, protocols: ['triple'], labels: { version: 'v1' } }], services: [{ name: 'isthmus.example.Greeter' }] },
    response: ref('WriteResult'), responseExample: { ...written, key: 'app/greeter-app' }, errors: WRITE_ERRORS,
  },
  'DELETE /v1/discovery/apps/{app}': {
    summary: 'Forget an app (its clusters and auto-routes)',
    params: { app: 'greeter-app' }, revisionQuery: true,
    body: { type: 'object', additionalProperties: false, required: ['revision'], properties: { revision: ref('Revision') } },
    bodyExample: { revision: 2 },
    response: ref('WriteResult'), responseExample: { ...written, key: 'app/greeter-app', revision: 2 }, errors: [...WRITE_ERRORS, 404],
  },
  'GET /v1/discovery/services': {
    summary: 'Services pushed with interface-level discovery',
    response: listOf('services', revisionAndName), responseExample: { services: [{ name: 'com.example.EchoService', revision: 1 }] },
  },
  'GET /v1/discovery/services/{service}': {
    summary: 'One interface-level push',
    params: { service: 'com.example.EchoService' },
    response: ref('ServicePush'),
    responseExample: { revision: 1, app: 'echo-app', providers: [{ address: '127.0.0.1', port: 12201, protocols: ['bolt'] }] },
    errors: [404],
  },
  'PUT /v1/discovery/services/{service}': {
    summary: "Interface-level push: a service's providers, folded into its app",
    params: { service: 'com.example.EchoService' },
    body: ref('ServicePush'),
    bodyExample: { revision: 1, app: 'echo-app', providers: [{ address: '127.0.0.1', port: 12201, protocols: ['bolt'] }] },
    response: ref('WriteResult'), responseExample: { ...written, key: 'service/com.example.EchoService' }, errors: WRITE_ERRORS,
  },
  'DELETE /v1/discovery/services/{service}': {
    summary: 'Forget an interface-level push',
    params: { service: 'com.example.EchoService' }, revisionQuery: true,
    body: { type: 'object', additionalProperties: false, required: ['revision'], properties: { revision: ref('Revision') } },
    bodyExample: { revision: 2 },
    response: ref('WriteResult'), responseExample: { ...written, key: 'service/com.example.EchoService', revision: 2 }, errors: [...WRITE_ERRORS, 404],
  },
  'GET /v1/routes': {
    summary: 'The route list (explicit, then the discovery auto-routes)',
    response: { type: 'object', additionalProperties: false, required: ['revision', 'routes', 'discovered'], properties: { revision: ref('Revision'), routes: { type: 'array', items: ref('Route') }, discovered: { type: 'array', items: ref('Route') } } },
    responseExample: { revision: 1, routes: [{ name: 'greeter', match: { service: 'isthmus.example.Greeter' }, cluster: 'greeter' }], discovered: [] },
  },
  'PUT /v1/routes': {
    summary: "Replace the route list (the config file's routes stay shadowed until the file is the only source again)",
    body: { type: 'object', additionalProperties: false, required: ['revision', 'routes'], properties: { revision: ref('Revision'), routes: { type: 'array', items: ref('Route') } } },
    bodyExample: { revision: 1, routes: [{ name: 'greeter', match: { service: 'isthmus.example.Greeter' }, cluster: 'greeter' }] },
    response: ref('WriteResult'), responseExample: { ...written, key: 'routes' }, errors: WRITE_ERRORS,
  },
  'GET /v1/ldc': {
    summary: 'The LDC zone table', errors: [404],
    response: { type: 'object', additionalProperties: false, required: ['revision', 'ldc'], properties: { revision: ref('Revision'), ldc: ref('Ldc') } },
    responseExample: { revision: 1, ldc: { localZone: 'GZ00A', table: [{ from: 0, to: 99, zone: 'GZ00A' }] } },
  },
  'PUT /v1/ldc': {
    summary: 'Replace the LDC zone table (a zone flip is one PUT)',
    body: withRevision(ldcSchema, ['table']),
    bodyExample: { revision: 1, localZone: 'GZ00A', table: [{ from: 0, to: 99, zone: 'GZ00A' }] },
    response: ref('WriteResult'), responseExample: { ...written, key: 'ldc' }, errors: WRITE_ERRORS,
  },
  'GET /v1/policies': {
    summary: 'The authorization policy', errors: [404],
    response: { type: 'object', additionalProperties: false, required: ['revision', 'policies'], properties: { revision: ref('Revision'), policies: ref('Policies') } },
    responseExample: { revision: 1, policies: { default: 'deny-foreign', rules: [] } },
  },
  'PUT /v1/policies': {
    summary: 'Replace the authorization policy',
    body: withRevision(policiesSchema),
    bodyExample: { revision: 1, default: 'deny-foreign', rules: [{ name: 'acme-greets', action: 'allow', from: { entity: 'acme' }, to: { service: 'isthmus.example.*' } }] },
    response: ref('WriteResult'), responseExample: { ...written, key: 'policies' }, errors: WRITE_ERRORS,
  },
  'GET /v1/mirror/mismatches': {
    summary: 'The mirror filter\'s sample of response mismatches, newest first: metadata and SHA-256 digests, never bodies',
    response: {
      type: 'object', additionalProperties: false, required: ['total', 'kept', 'capacity', 'mismatches'],
      properties: {
        total: { type: 'integer', description: 'mismatches since the process started' },
        kept: { type: 'integer' },
        capacity: { type: 'integer', description: 'the mirror filter\'s `samples`' },
        mismatches: {
          type: 'array',
          items: {
            type: 'object', additionalProperties: false, required: ['time', 'route', 'target', 'protocol', 'service', 'method', 'differ', 'primary', 'mirror'],
            properties: {
              time: { type: 'string' }, route: { type: 'string' }, target: { type: 'string' }, protocol: { enum: ['triple', 'bolt'] },
              service: { type: 'string' }, method: { type: 'string' },
              differ: { type: 'array', items: { enum: ['status', 'grpc-status', 'size', 'digest'] } },
              primary: ref('MirrorResponse'), mirror: ref('MirrorResponse'),
            },
          },
        },
      },
    },
    responseExample: { total: 0, kept: 0, capacity: 0, mismatches: [] },
  },
  'GET /v1/audit/recent': {
    summary: 'The audit filter\'s last records, newest first: the trail\'s metadata (time, caller, service/method, route, cluster, status, error code, latency), never bodies; redacted headers stay redacted. `enabled: false` where no audit filter runs',
    response: {
      type: 'object', additionalProperties: false, required: ['enabled', 'total', 'capacity', 'records'],
      properties: {
        enabled: { type: 'boolean' },
        total: { type: 'integer', description: 'records this process audited since it started' },
        capacity: { type: 'integer', description: 'records kept' },
        records: { type: 'array', items: ref('AuditRecord') },
      },
    },
    responseExample: {
      enabled: true, total: 1, capacity: 50,
      records: [{
        time: '2026-01-01T00:00:00.000Z', proto: 'triple', caller: { principal: 'spiffe://acme.test/entity/acme/app/shop', entity: 'acme', app: 'shop', auth: 'mtls' }, peer: 'spiffe://acme.test/entity/acme/app/shop', addr: '127.0.0.1',
        service: 'isthmus.example.Greeter', method: 'SayHello', route: 'greeter', cluster: 'greeter', host: '127.0.0.1:50051', status: 0, code: null, ms: 1.25,
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736', sofaTraceId: '', decisions: [], headers: { authorization: '[redacted]' },
      }],
    },
  },
  'GET /v1/filters': {
    summary: 'The filter chain',
    response: listOf('filters', { type: 'object', additionalProperties: false, required: ['name', 'enabled', 'revision'], properties: { name: { type: 'string' }, enabled: { type: 'boolean' }, revision: ref('Revision') } }),
    responseExample: { filters: [{ name: 'headers', enabled: true, revision: 0 }] },
  },
  'GET /v1/filters/{name}': {
    summary: "One chain entry's settings",
    params: { name: 'headers' },
    response: { type: 'object', additionalProperties: false, required: ['revision', 'name', 'enabled', 'config'], properties: { revision: ref('Revision'), name: { type: 'string' }, enabled: { type: 'boolean' }, config: { type: 'object' } } },
    responseExample: { revision: 0, name: 'headers', enabled: true, config: { request: { set: { 'x-isthmus-entity': 'acme' } } } },
    errors: [404],
  },
  'PUT /v1/filters/{name}': {
    summary: "Change a configured chain entry's config or enabled flag (the filter validates its config); takes effect for new calls",
    params: { name: 'headers' },
    body: { type: 'object', additionalProperties: false, required: ['revision'], minProperties: 2, properties: { revision: ref('Revision'), config: { type: 'object' }, enabled: (filterEntrySchema.properties.enabled as Schema) } },
    bodyExample: { revision: 1, config: { request: { set: { 'x-isthmus-entity': 'acme', 'x-pushed': 'yes' } } } },
    response: ref('WriteResult'), responseExample: { ...written, key: 'filter/headers' }, errors: [...WRITE_ERRORS, 404],
  },
}

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
