/**
 * Validated user input: the shape of the YAML config file and of admin API bodies.
 * `XxxOptions` here; the compiled, frozen runtime objects are `XxxConfig` / `Snapshot`.
 * Keep in step with schema.ts (the schema is the source of truth for validation).
 */

export interface TlsOptions {
  /** PEM file paths. */
  cert: string
  key: string
  /** CA bundle for verifying peers (client certs on a listener, servers on a cluster). */
  ca?: string
  /** Listener: require and verify a client certificate. */
  requireClientCert?: boolean
  /** Cluster: SNI server name. */
  servername?: string
  /** Cluster: expected peer identity (SPIFFE URI or `entity[/app]`). */
  peerIdentity?: string
}

export interface Http2Limits {
  maxConcurrentStreams: number
  maxHeaderListSize: number
  initialWindowSize: number
  maxSessionMemory: number
}

/** Bounds shared by every data listener (README "Limits"). */
export interface ConnectionLimits {
  firstByteTimeoutMs: number
  maxConnections: number
  maxConnectionsPerSource: number
  maxBufferedBytesPerClient: number
}

export interface TripleLimits extends ConnectionLimits {
  headersTimeoutMs: number
  requestTimeoutMs: number
  idleTimeoutMs: number
  goawayGraceMs: number
  maxStreams: number
  rapidReset: { maxResets: number, windowMs: number }
}

export interface TripleListenerOptions {
  host: string
  port: number
  tls?: TlsOptions
  /** Accept Triple unary over HTTP/1.1 (TLS: ALPN fallback; plain: h2c and HTTP/1.1 on one port). */
  http1: boolean
  http2: Http2Limits
  limits: TripleLimits
}

export interface BoltLimits extends ConnectionLimits {
  maxFrameBytes: number
  maxHeaderEntries: number
  maxHeaderBytes: number
  maxClassNameBytes: number
  frameTimeoutMs: number
  writeStallMs: number
  maxInflightPerConnection: number
}

export interface BoltListenerOptions {
  host: string
  port: number
  tls?: TlsOptions
  limits: BoltLimits
  /** Close a connection with no complete frame (heartbeats count) and no call in flight for this long. */
  idleTimeoutMs: number
  /** Send GoAway (cmd 100) to every connection on drain (only for clients that know it). */
  goAwayOnDrain?: boolean
  /** Refuse (SERVER_DESERIAL_EXCEPTION) a hessian2 request whose content a sofa-rpc-node provider could not decode. */
  checkContent?: boolean
  /** With checkContent: serialization type codes besides hessian2 (1) and protobuf (11) forwarded unchecked. */
  passCodecs?: number[]
}

export interface AdminListenerOptions {
  host: string
  port: number
  tls?: TlsOptions
  /** Bearer token, inline (discouraged), from a file, or from an environment variable. */
  token?: string
  tokenFile?: string
  tokenEnv?: string
  /** Client-certificate identities (SPIFFE URI) allowed to use the admin API over mTLS. */
  adminIdentities?: string[]
  maxBodyBytes: number
  /** Socket bounds of the admin server: headers and whole-request deadlines, open connections
   *  (filled by the schema; optional for programs that build options by hand). */
  limits?: AdminLimits
  /** The operator console (filled by the schema; optional for programs that build options by hand). */
  console?: AdminConsoleOptions
}

export interface AdminConsoleOptions {
  /** Browser sessions kept (the oldest goes first) and their lifetime. */
  maxSessions: number
  sessionTtlMs: number
  /** Accepted config changes the history keeps (console revisions panel, GET /v1/revisions). */
  historyRecords: number
  /** GET /v1/events: watchers at once, unsent bytes per watcher before it is dropped, tick. */
  maxEventClients: number
  maxEventBufferBytes: number
  eventIntervalMs: number
  /** Login brute-force bound: refused tokens per source address per window, then 429 until it ends
   *  (optional for programs that build options by hand: 5 per 60 s). */
  loginMaxFailures?: number
  loginWindowMs?: number
}

export interface AdminLimits {
  headersTimeoutMs: number
  requestTimeoutMs: number
  maxConnections: number
}

export interface ListenersOptions {
  triple?: TripleListenerOptions
  bolt?: BoltListenerOptions
  admin: AdminListenerOptions
}

export type LbPolicy = 'round-robin' | 'least-request' | 'random' | 'consistent-hash'

export interface HostOptions {
  address: string
  port: number
  labels?: Record<string, string>
  zone?: string
  weight?: number
}

export interface HealthCheckOptions {
  /** Active check: TCP connect (Bolt: heartbeat) every interval. 0 disables. */
  intervalMs: number
  timeoutMs: number
  unhealthyThreshold: number
  healthyThreshold: number
}

export interface OutlierOptions {
  /** Passive: consecutive connect/reset failures that eject a host (a lost connection is one). */
  consecutiveFailures: number
  /** Consecutive responses with a status of `grpcStatuses` / `boltStatuses` that eject a host. */
  consecutiveStatusFailures?: number
  grpcStatuses?: string[]
  boltStatuses?: string[]
  /** Base ejection time; the nth ejection not yet decayed lasts n x ejectMs, at most maxEjectMs. */
  ejectMs: number
  maxEjectMs?: number
  /** Share of the cluster's hosts ejected at once at most (one host is always allowed). */
  maxEjectedPercent?: number
  /** Success-rate sweep period (also the decay of one ejection). */
  intervalMs?: number
  successRate?: { enabled: boolean, minHosts: number, minRequests: number, stdevFactor: number }
}

/** Per-cluster caps, 0 for none (README "Outlier ejection and circuit breaking"). */
export interface CircuitBreakerOptions {
  maxConnections: number
  maxPending: number
  maxRequests: number
  maxRetries: number
}

export type RetryOn = 'connect-failure' | 'refused' | 'unavailable' | 'per-try-timeout'

/** A route's retry policy (README "Retries"). */
export interface RetryOptions {
  attempts: number
  on: RetryOn[]
  perTryTimeoutMs: number
  budgetPercent: number
  minRetries: number
  maxBodyBytes: number
}

export interface HeartbeatOptions {
  baseMs: number
  maxMs: number
  timeoutMs: number
  maxFailures: number
}

export interface UpstreamOptions {
  connectTimeoutMs: number
  /** HTTP/2: streams per session before another session is opened. */
  maxConcurrentStreams: number
  /** HTTP/2: sessions per host at most. Bolt: connections per host. */
  maxConnections: number
  /** Bolt: requests per connection before it is replaced (0 = no cap). */
  maxRequestsPerConnection: number
  /** Triple: calls waiting for a stream slot when every session is at its cap (0: refuse at once). */
  maxPending: number
  pendingTimeoutMs: number
  heartbeat: HeartbeatOptions
}

export interface ShardOptions {
  percent: number
  /** Replica id key; default the node id (pod IP / hostname). */
  key?: string
}

export interface SubsetFallbackOptions {
  /** What to do when no host carries the labels a call asks for. */
  policy: 'none' | 'any' | 'default'
  /** With policy `default`: labels of the default subset. */
  defaultSubset?: Record<string, string>
}

export interface ClusterOptions {
  name: string
  protocol: 'triple' | 'bolt' | 'http1'
  lb: { policy: LbPolicy, hashHeader?: string }
  hosts: HostOptions[]
  subsetFallback: SubsetFallbackOptions
  healthCheck: HealthCheckOptions
  outlier: OutlierOptions
  circuitBreakers?: CircuitBreakerOptions
  upstream: UpstreamOptions
  tls?: TlsOptions
  shard?: ShardOptions
}

export type StringMatch = string | { exact?: string, prefix?: string, regex?: string }

export interface HeaderMatch {
  name: string
  exact?: string
  prefix?: string
  regex?: string
  present?: boolean
}

export interface RouteMatchOptions {
  protocol?: 'triple' | 'bolt'
  service?: StringMatch
  method?: StringMatch
  version?: string
  group?: string
  headers?: HeaderMatch[]
}

export interface RouteOptions {
  name: string
  match: RouteMatchOptions
  cluster: string
  /** Labels the chosen host must carry. */
  subset?: Record<string, string>
  timeoutMs: number
  /** Refuse the call when the method is not known at the gateway (Bolt from sofa-rpc-node). */
  requireMethod?: boolean
  retry?: RetryOptions
}

export interface FilterEntryOptions {
  name: string
  /** Path of a user module exporting a FilterFactory (default export or `filter`). */
  module?: string
  config?: Record<string, unknown>
  /** Run on these listeners only (default both). */
  protocols?: Array<'triple' | 'bolt'>
  enabled?: boolean
}

export type ZoneKind = 'rzone' | 'gzone' | 'czone'

/** The LDC section (`ldc`, `PUT /v1/ldc`); README "LDC routing". */
export interface LdcOptions {
  /** Where the routing uid comes from, tried in this order: header, boltKey, jwtClaim, tri-unit-info. */
  uid: { header?: string, boltKey?: string, jwtClaim?: string, unitInfo?: boolean, maxLength?: number }
  /** Shard = `digits` decimal digits of the uid ending `offset` characters before its end (default: the last two). */
  shard?: { digits: number, offset: number }
  /** Zone of this gateway (with `localZones`: every zone it serves). None: it serves every zone. */
  localZone?: string
  localZones?: string[]
  /** Zones by name; without it, table zones are RZones, `globalZone` the GZone, other zones in `cities` CZones. */
  zones?: Record<string, { type: ZoneKind, city?: string, gateway?: { triple?: string, bolt?: string } }>
  /** Shard ranges to RZones. */
  table: Array<{ from: number, to: number, zone: string }>
  /** Service kind: rzone (in the uid's zone), gzone (global), czone (the caller's city copy). Others: no LDC routing. */
  services?: Record<string, ZoneKind>
  globalZone?: string
  /** Zone -> city, for CZone reads. */
  cities?: Record<string, string>
  /** RZone for calls with no (or a malformed) uid; none: such calls are refused. */
  defaultZone?: string
  /** A zone a caller may pin (header / Bolt key, or `zone` in tri-unit-info), if listed in `allow`. */
  pin?: { header?: string, boltKey?: string, allow: string[] }
  /** Headers a forwarded call carries (and a gateway receiving one honours). */
  forward?: { zoneHeader: string, shardHeader: string, hopHeader: string, trust: string[] }
  /** Stamp zone and shard on every call (`always`), or only on forwarded ones. */
  stamp?: 'forward' | 'always'
}

export interface PolicyRuleOptions {
  name: string
  action: 'allow' | 'deny'
  from?: { entity?: string, app?: string, claims?: Record<string, string> }
  to?: { service?: StringMatch, method?: StringMatch }
}

export interface PoliciesOptions {
  /** Decision for calls no rule matches: `deny-foreign` denies other entities only. */
  default: 'allow' | 'deny' | 'deny-foreign'
  rules: PolicyRuleOptions[]
}

export type AuditSinkOptions =
  | { type: 'file', name?: string, path: string, checkpoints?: string }
  | { type: 'http', name?: string, url: string, checkpointsUrl?: string, headers?: Record<string, string>, timeoutMs?: number }
  | { type: 'stdout', name?: string }

export interface AuditOptions {
  /** Put the `audit` filter last in the chain. */
  enabled: boolean
  /** Directory of the local audit files. */
  dir: string
  /** Export records through the BullMQ queue (needs `redis`). */
  queue: boolean
  flushMs: number
  maxBufferBytes: number
  rotate: { maxBytes: number, intervalMs: number }
  retain: { maxBytes: number }
  checkpoint: { records: number, intervalMs: number, key?: string }
  headers: { allow: string[], redact: string[], maxValueLength: number }
  spool: { maxBytes: number, onFull: 'drop' | 'refuse', refuseEntities: string[] }
  export: {
    queueName: string
    maxJobBytes: number
    sinks: AuditSinkOptions[]
    retry: { baseMs: number, maxMs: number }
  }
}

export interface LogOptions {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Level of the per-call access log line, or off. */
  access: 'info' | 'debug' | 'trace' | 'off'
}

export interface GatewayOptions {
  entity: string
  /** Trust domain of SPIFFE identities. */
  trustDomain: string
  /** This replica's id (sharding, replication); default hostname. */
  nodeId?: string
  listeners: ListenersOptions
  clusters: ClusterOptions[]
  routes: RouteOptions[]
  filters: FilterEntryOptions[]
  ldc?: LdcOptions
  policies?: PoliciesOptions
  audit: AuditOptions
  redis?: { url: string, keyPrefix: string, passwordEnv?: string }
  /** Path of the persisted admin state; none means in memory only. */
  state?: string
  log: LogOptions
  drain: { timeoutMs: number }
  /** Data-plane worker processes; unset or 1: one process (gateway/lifecycle/primary.ts). */
  workers?: number | 'auto'
  workerLimits?: WorkerLimits
  metrics?: { eventLoopPrecisionMs: number }
}

/** The primary's bounds on its waits for its workers. */
export interface WorkerLimits {
  /** A (re)started worker must compile its generation and listen within this. */
  startTimeoutMs: number
  /** Each phase of a generation (prepare, commit) must be acknowledged within this. */
  applyTimeoutMs: number
  /** A worker that does not answer a metrics scrape within this is left out of it. */
  metricsTimeoutMs: number
}
