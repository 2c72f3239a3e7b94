/** Every documented /v1 operation of the admin API (built into the document by admin/openapi.ts). */
import { clusterSchema, filterEntrySchema, ldcSchema, policiesSchema } from '../gateway/config/schema.js'
import { listOf, ref, revisionAndName, withRevision, type Schema } from './openapi-parts.js'

export interface Operation {
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

