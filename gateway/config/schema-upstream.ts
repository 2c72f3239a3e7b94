/** The config schema's upstream parts: hosts and clusters (also admin bodies: PUT /v1/clusters). */
import { labels, nonNegInt, OUTLIER_BOLT_STATUSES, OUTLIER_GRPC_STATUSES, port, posInt, section, str, tlsSchema } from './schema-common.js'

export const hostSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'port'],
  properties: {
    address: str,
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    labels,
    zone: str,
    weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
  },
} as const

export const clusterSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'protocol'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' },
    protocol: { enum: ['triple', 'bolt', 'http1'] },
    lb: section({
      policy: { enum: ['round-robin', 'least-request', 'random', 'consistent-hash'], default: 'round-robin' },
      hashHeader: str,
    }),
    hosts: { type: 'array', items: hostSchema, default: [] },
    subsetFallback: section({
      policy: { enum: ['none', 'any', 'default'], default: 'any' },
      defaultSubset: labels,
    }),
    healthCheck: section({
      intervalMs: { ...nonNegInt, default: 0 },
      timeoutMs: { ...posInt, default: 1000 },
      unhealthyThreshold: { ...posInt, default: 3 },
      healthyThreshold: { ...posInt, default: 1 },
    }),
    // Passive health on RPC outcomes (cluster/outlier.ts, README "Outlier ejection and
    // circuit breaking"). A caller's cancel and the caller's own deadline never count.
    outlier: section({
      // Connect failures and resets (one per lost connection) in a row.
      consecutiveFailures: { ...posInt, default: 3 },
      // Responses with a status below in a row. Statuses a caller can provoke (grpc-js answers
      // INTERNAL to a body it cannot parse; sofa-rpc-node answers SERVER_EXCEPTION to an unknown
      // service or a business exception) are opt-in: by default one caller cannot eject a host.
      consecutiveStatusFailures: { ...posInt, default: 5 },
      grpcStatuses: { type: 'array', items: { enum: OUTLIER_GRPC_STATUSES }, uniqueItems: true, maxItems: 16, default: ['UNAVAILABLE'] },
      boltStatuses: { type: 'array', items: { enum: OUTLIER_BOLT_STATUSES }, uniqueItems: true, maxItems: 16, default: [] },
      // Ejection time = ejectMs x (ejections of the host not yet decayed), at most maxEjectMs.
      ejectMs: { ...posInt, default: 10000 },
      maxEjectMs: { ...posInt, default: 300000 },
      // Hosts of the cluster ejected at once at most (one is always allowed, as in Envoy).
      maxEjectedPercent: { type: 'integer', minimum: 0, maximum: 100, default: 10 },
      // Success-rate sweep period; each sweep also decays one ejection of hosts that stayed in.
      intervalMs: { ...posInt, default: 10000 },
      successRate: section({
        enabled: { type: 'boolean', default: true },
        minHosts: { ...posInt, default: 5 },
        minRequests: { ...posInt, default: 100 },
        stdevFactor: { type: 'number', minimum: 0, maximum: 100, default: 1.9 },
      }),
    }),
    // Per-cluster caps (0: none); a trip answers ISTH_ERR_UPSTREAM_OVERLOADED.
    circuitBreakers: section({
      maxConnections: { ...nonNegInt, default: 0 },
      maxPending: { ...nonNegInt, default: 0 },
      maxRequests: { ...nonNegInt, default: 0 },
      maxRetries: { ...nonNegInt, default: 0 },
    }),
    upstream: section({
      connectTimeoutMs: { ...posInt, default: 3000 },
      maxConcurrentStreams: { ...posInt, default: 1000 },
      maxConnections: { ...posInt, default: 4 },
      maxRequestsPerConnection: { ...nonNegInt, default: 0 },
      // Triple: calls that wait for a stream slot when every session is at its cap, and for
      // how long, before ISTH_ERR_UPSTREAM_OVERLOADED.
      maxPending: { ...nonNegInt, default: 1024 },
      pendingTimeoutMs: { ...posInt, default: 1000 },
      heartbeat: section({
        baseMs: { ...posInt, default: 15000 },
        maxMs: { ...posInt, default: 90000 },
        timeoutMs: { ...posInt, default: 1000 },
        maxFailures: { ...posInt, default: 3 },
      }),
    }),
    tls: tlsSchema,
    shard: {
      type: 'object',
      additionalProperties: false,
      required: ['percent'],
      properties: {
        percent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
        key: str,
      },
    },
  },
} as const
