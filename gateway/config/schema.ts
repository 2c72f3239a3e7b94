/**
 * JSON schema of the config file; admin API bodies reuse its parts, so whatever is valid in
 * YAML is valid in a PUT. ajv fills the defaults (useDefaults) and rejects unknown keys.
 */
import type { JsonSchema } from '../chain/filter-api.js'
import { headerName, labels, nonNegInt, port, posInt, section, str, stringMatchSchema, tlsSchema, zoneName } from './schema-common.js'
import { clusterSchema, hostSchema } from './schema-upstream.js'
import { auditSchema } from './schema-audit.js'

export { stringMatchSchema, tlsSchema } from './schema-common.js'
export { clusterSchema, hostSchema } from './schema-upstream.js'
export { OUTLIER_BOLT_STATUSES, OUTLIER_GRPC_STATUSES } from './schema-common.js'
export { auditSchema } from './schema-audit.js'

export const routeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'match', 'cluster'],
  properties: {
    name: str,
    match: {
      type: 'object',
      additionalProperties: false,
      properties: {
        protocol: { enum: ['triple', 'bolt'] },
        service: stringMatchSchema,
        method: stringMatchSchema,
        version: { type: 'string' },
        group: { type: 'string' },
        headers: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: str,
              exact: { type: 'string' },
              prefix: { type: 'string' },
              regex: { type: 'string', format: 'regex' },
              present: { type: 'boolean' },
            },
          },
        },
      },
    },
    cluster: str,
    subset: labels,
    timeoutMs: { ...posInt, default: 30000 },
    requireMethod: { type: 'boolean', default: false },
    // Retries before any response byte reached the caller (README "Retries").
    retry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // Tries in all, the first included.
        attempts: { type: 'integer', minimum: 1, maximum: 10, default: 2 },
        on: { type: 'array', items: { enum: ['connect-failure', 'refused', 'unavailable', 'per-try-timeout'] }, uniqueItems: true, minItems: 1, default: ['connect-failure', 'refused', 'unavailable'] },
        // Each try's own deadline, inside the caller's (0: the caller's deadline only).
        perTryTimeoutMs: { ...nonNegInt, default: 0 },
        // Retries in flight per cluster at most: budgetPercent of its calls in flight, never below minRetries.
        budgetPercent: { type: 'number', minimum: 0, maximum: 100, default: 20 },
        minRetries: { ...nonNegInt, default: 3 },
        // Triple: request bytes kept for a retry; a longer body is not retried.
        maxBodyBytes: { type: 'integer', minimum: 0, maximum: 16777216, default: 65536 },
      },
    },
  },
} as const

export const filterEntrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: str,
    module: str,
    config: { type: 'object', default: {} },
    protocols: { type: 'array', items: { enum: ['triple', 'bolt'] }, minItems: 1, uniqueItems: true },
    enabled: { type: 'boolean', default: true },
  },
} as const

/**
 * The LDC (unitized architecture) section, also `PUT /v1/ldc`: where the routing uid comes
 * from, how its shard is cut, the zones (RZone / GZone / CZone), shard ranges -> RZone, the
 * kind of each service, and how calls for zones this gateway does not serve are forwarded.
 * The `ldc` filter acts on it (README "LDC routing"); semantics in config/ldc.ts.
 */
export const ldcSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['table'],
  properties: {
    uid: section({
      header: headerName,
      boltKey: { type: 'string', minLength: 1, maxLength: 128 },
      jwtClaim: str,
      // tri-unit-info (Triple): JSON with `userid` (and `zone`, a pin).
      unitInfo: { type: 'boolean', default: true },
      maxLength: { type: 'integer', minimum: 1, maximum: 256, default: 64 },
    }),
    // Shard = `digits` decimal digits of the uid, ending `offset` characters before its end.
    shard: section({
      digits: { type: 'integer', minimum: 1, maximum: 4, default: 2 },
      offset: { type: 'integer', minimum: 0, maximum: 32, default: 0 },
    }),
    localZone: zoneName,
    localZones: { type: 'array', items: zoneName, uniqueItems: true },
    zones: {
      type: 'object',
      propertyNames: zoneName,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['type'],
        properties: {
          type: { enum: ['rzone', 'gzone', 'czone'] },
          city: str,
          gateway: { type: 'object', additionalProperties: false, minProperties: 1, properties: { triple: str, bolt: str } },
        },
      },
    },
    table: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to', 'zone'],
        properties: {
          from: { type: 'integer', minimum: 0, maximum: 9999 },
          to: { type: 'integer', minimum: 0, maximum: 9999 },
          zone: zoneName,
        },
      },
    },
    services: { type: 'object', additionalProperties: { enum: ['rzone', 'gzone', 'czone'] } },
    globalZone: zoneName,
    cities: { type: 'object', propertyNames: zoneName, additionalProperties: { type: 'string', minLength: 1 } },
    defaultZone: zoneName,
    pin: section({
      header: headerName,
      boltKey: { type: 'string', minLength: 1, maxLength: 128 },
      allow: { type: 'array', items: zoneName, uniqueItems: true, default: [] },
    }),
    forward: section({
      zoneHeader: { ...headerName, default: 'x-isthmus-ldc-zone' },
      shardHeader: { ...headerName, default: 'x-isthmus-ldc-shard' },
      hopHeader: { ...headerName, default: 'x-isthmus-ldc-hop' },
      // Caller entities whose zone/shard headers a forwarded call is trusted with ('*': any).
      trust: { type: 'array', items: str, uniqueItems: true, default: [] },
    }),
    stamp: { enum: ['forward', 'always'], default: 'forward' },
  },
} as const

export const policiesSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    default: { enum: ['allow', 'deny', 'deny-foreign'], default: 'deny-foreign' },
    rules: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'action'],
        properties: {
          name: str,
          action: { enum: ['allow', 'deny'] },
          from: {
            type: 'object',
            additionalProperties: false,
            properties: { entity: str, app: str, claims: labels },
          },
          to: {
            type: 'object',
            additionalProperties: false,
            properties: { service: stringMatchSchema, method: stringMatchSchema },
          },
        },
      },
    },
  },
} as const

const http2Schema = section({
  // Streams one client may hold open (SETTINGS_MAX_CONCURRENT_STREAMS); Envoy's edge advice: 100.
  maxConcurrentStreams: { ...posInt, default: 100 },
  maxHeaderListSize: { type: 'integer', minimum: 1024, default: 65536 },
  initialWindowSize: { type: 'integer', minimum: 65535, maximum: 2147483647, default: 1048576 },
  maxSessionMemory: { ...posInt, default: 64 },
})

/** Connection bounds every listener shares (hostile-client limits; README "Limits"). */
const connectionLimits = {
  // Accept -> first byte (TLS: handshake done and first byte); a silent connection is closed.
  firstByteTimeoutMs: { ...posInt, default: 10000 },
  maxConnections: { ...posInt, default: 10000 },
  maxConnectionsPerSource: { ...posInt, default: 1000 },
  // Response bytes the gateway holds for one client connection; past it that client is closed.
  maxBufferedBytesPerClient: { ...posInt, default: 4 * 1024 * 1024 },
} as const

const tripleLimitsSchema = section({
  ...connectionLimits,
  // HTTP/1.1: the request headers must be complete within this (per request); HTTP/2: a new
  // session must open its first stream within this.
  headersTimeoutMs: { ...posInt, default: 10000 },
  // HTTP/1.1: the whole request must arrive within this.
  requestTimeoutMs: { ...posInt, default: 60000 },
  // A session (HTTP/2) or connection (HTTP/1.1) with no call in flight for this long gets
  // GOAWAY (or is closed); bytes that complete no request do not reset it.
  idleTimeoutMs: { ...posInt, default: 300000 },
  // A session that sent or received GOAWAY is destroyed once its streams end or after this.
  goawayGraceMs: { ...posInt, default: 5000 },
  // Concurrent streams over all sessions of the listener (each session: http2.maxConcurrentStreams).
  maxStreams: { ...posInt, default: 10000 },
  // Rapid reset (CVE-2023-44487): more client resets than this within windowMs -> GOAWAY
  // ENHANCE_YOUR_CALM, destroyed after goawayGraceMs.
  rapidReset: section({
    maxResets: { ...posInt, default: 200 },
    windowMs: { ...posInt, default: 10000 },
  }),
})

export const gatewaySchema = {
  $id: 'isthmus.config',
  type: 'object',
  additionalProperties: false,
  required: ['entity'],
  properties: {
    entity: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{0,62}$' },
    trustDomain: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{0,252}$', default: 'isthmus.local' },
    nodeId: str,
    listeners: section({
      triple: {
        type: 'object',
        additionalProperties: false,
        properties: {
          host: { ...str, default: '127.0.0.1' },
          port: { ...port, default: 0 },
          tls: tlsSchema,
          http1: { type: 'boolean', default: true },
          http2: http2Schema,
          limits: tripleLimitsSchema,
        },
      },
      bolt: {
        type: 'object',
        additionalProperties: false,
        properties: {
          host: { ...str, default: '127.0.0.1' },
          port: { ...port, default: 0 },
          tls: tlsSchema,
          limits: section({
            maxFrameBytes: { type: 'integer', minimum: 64, default: 16 * 1024 * 1024 },
            maxHeaderEntries: { ...posInt, default: 256 },
            maxHeaderBytes: { ...posInt, default: 65536 },
            maxClassNameBytes: { ...posInt, default: 256 },
            ...connectionLimits,
            // A started frame must complete within this; trickled bytes do not extend it.
            frameTimeoutMs: { ...posInt, default: 10000 },
            // A client that takes no response bytes for this long, with some buffered, is closed.
            writeStallMs: { ...posInt, default: 10000 },
            // Calls one connection may have in flight; past it the connection is not read until
            // some finish (one client cannot take every upstream slot).
            maxInflightPerConnection: { ...posInt, default: 256 },
          }),
          idleTimeoutMs: { ...posInt, default: 90000 },
          // MOSN's GoAway (cmd 100) on drain. Off by default: sofa-bolt-node (and so
          // sofa-rpc-node) decodes it as a request it cannot read and closes the socket,
          // failing the calls in flight that drain was meant to let finish.
          goAwayOnDrain: { type: 'boolean', default: false },
          // Undecodable hessian2 content makes a sofa-rpc-node provider close the shared
          // upstream connection (every call on it fails): answer such a request here.
          checkContent: { type: 'boolean', default: true },
          // Codecs (serialization type bytes) forwarded unchecked besides hessian2 and
          // protobuf; any other is refused with checkContent (sofa-bolt-node throws on it).
          passCodecs: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 }, maxItems: 256, default: [] },
        },
      },
      admin: section({
        host: { ...str, default: '127.0.0.1' },
        port: { ...port, default: 0 },
        tls: tlsSchema,
        token: str,
        tokenFile: str,
        tokenEnv: str,
        adminIdentities: { type: 'array', items: str },
        maxBodyBytes: { ...posInt, default: 8 * 1024 * 1024 },
        // The admin server's own socket bounds (admin/server.ts).
        limits: section({
          headersTimeoutMs: { ...posInt, default: 10000 },
          requestTimeoutMs: { ...posInt, default: 60000 },
          maxConnections: { ...posInt, default: 256 },
        }),
        // The operator console (admin/console/): browser sessions and the /v1/events stream.
        console: section({
          maxSessions: { ...posInt, maximum: 10000, default: 64 },
          sessionTtlMs: { ...posInt, default: 8 * 60 * 60 * 1000 },
          historyRecords: { ...posInt, minimum: 2, maximum: 1000, default: 50 },
          maxEventClients: { ...posInt, maximum: 10000, default: 128 },
          maxEventBufferBytes: { ...posInt, default: 1024 * 1024 },
          eventIntervalMs: { ...posInt, minimum: 100, default: 1000 },
          // Console login brute-force bound (admin/console/login-limit.ts).
          loginMaxFailures: { ...posInt, maximum: 1000, default: 5 },
          loginWindowMs: { ...posInt, minimum: 100, maximum: 24 * 60 * 60 * 1000, default: 60000 },
        }),
      }),
    }),
    clusters: { type: 'array', items: clusterSchema, default: [] },
    routes: { type: 'array', items: routeSchema, default: [] },
    filters: { type: 'array', items: filterEntrySchema, default: [] },
    ldc: ldcSchema,
    policies: policiesSchema,
    audit: auditSchema,
    redis: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^rediss?://' },
        keyPrefix: { ...str, default: 'isthmus:' },
        // The password stays out of the config file: name the environment variable holding it.
        passwordEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
      },
    },
    state: str,
    log: section({
      level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
      access: { enum: ['info', 'debug', 'trace', 'off'], default: 'debug' },
    }),
    drain: section({ timeoutMs: { ...posInt, default: 25000 } }),
    // Data-plane worker processes (node:cluster); unset or 1: one process, no workers.
    workers: { oneOf: [{ type: 'integer', minimum: 1, maximum: 64 }, { const: 'auto' }] },
    // Bounds on the primary's waits for its workers (gateway/lifecycle/worker-pool.ts).
    workerLimits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        startTimeoutMs: { ...posInt, default: 30000 },
        applyTimeoutMs: { ...posInt, default: 10000 },
        metricsTimeoutMs: { ...posInt, default: 2000 },
      },
    },
    // Process metrics: the event-loop delay monitor's sampling interval (each sample wakes
    // the loop; prom-client's own default of 10 ms wakes an idle gateway ~100 times a second).
    metrics: { type: 'object', additionalProperties: false, properties: { eventLoopPrecisionMs: { type: 'integer', minimum: 1, maximum: 60000, default: 200 } } },
  },
} as const satisfies JsonSchema
