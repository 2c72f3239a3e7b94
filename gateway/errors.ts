/**
 * Stable error codes. One table gives each code its message template and its outcome per
 * protocol, so a filter, the router and the admin API all answer the same way. Codes are a
 * contract (docs/ERRORS.md lists them; a test diffs the two): never rename or reuse one.
 */

/** gRPC status codes used by the gateway. */
export const GrpcStatus = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16,
} as const

/** Bolt response status codes (PROTOCOLS.md). */
export const BoltStatus = {
  SUCCESS: 0x00, ERROR: 0x01, SERVER_EXCEPTION: 0x02, UNKNOWN: 0x03, SERVER_THREADPOOL_BUSY: 0x04,
  ERROR_COMM: 0x05, NO_PROCESSOR: 0x06, TIMEOUT: 0x07, CLIENT_SEND_ERROR: 0x08,
  CODEC_EXCEPTION: 0x09, CONNECTION_CLOSED: 0x10, SERVER_SERIAL_EXCEPTION: 0x11,
  SERVER_DESERIAL_EXCEPTION: 0x12,
} as const

export interface ErrorSpec {
  /** Message template; `%s` is replaced by the detail given at creation. */
  readonly message: string
  /** gRPC status on the Triple listener, -1 when the code never reaches a call. */
  readonly grpc: number
  /** Bolt response status on the Bolt listener, -1 when the code never reaches a call. */
  readonly bolt: number
  /** HTTP status for the admin API and Triple-over-HTTP/1.1 replies. */
  readonly http: number
}

export const ERRORS = {
  ISTH_ERR_ROUTE_NOT_FOUND: { message: 'no route for %s', grpc: GrpcStatus.UNIMPLEMENTED, bolt: BoltStatus.NO_PROCESSOR, http: 404 },
  ISTH_ERR_ROUTE_PROTOCOL_MISMATCH: { message: 'route leads to %s', grpc: GrpcStatus.UNIMPLEMENTED, bolt: BoltStatus.NO_PROCESSOR, http: 502 },
  ISTH_ERR_ROUTE_METHOD_REQUIRED: { message: 'route %s needs the method name but the request carries none', grpc: GrpcStatus.INVALID_ARGUMENT, bolt: BoltStatus.NO_PROCESSOR, http: 400 },
  ISTH_ERR_UPSTREAM_NO_HEALTHY_HOST: { message: 'no healthy host in cluster %s', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.NO_PROCESSOR, http: 503 },
  ISTH_ERR_UPSTREAM_TIMEOUT: { message: 'upstream timed out: %s', grpc: GrpcStatus.DEADLINE_EXCEEDED, bolt: BoltStatus.TIMEOUT, http: 504 },
  ISTH_ERR_UPSTREAM_CONNECT: { message: 'upstream connection failed: %s', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.ERROR_COMM, http: 503 },
  ISTH_ERR_UPSTREAM_RESET: { message: 'upstream reset the call: %s', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.CONNECTION_CLOSED, http: 502 },
  ISTH_ERR_UPSTREAM_OVERLOADED: { message: 'upstream pool is full: %s', grpc: GrpcStatus.RESOURCE_EXHAUSTED, bolt: BoltStatus.SERVER_THREADPOOL_BUSY, http: 503 },
  ISTH_ERR_CLUSTER_NOT_FOUND: { message: 'cluster %s does not exist', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.NO_PROCESSOR, http: 503 },
  ISTH_ERR_GATEWAY_DRAINING: { message: 'gateway is draining: %s', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.SERVER_THREADPOOL_BUSY, http: 503 },
  ISTH_ERR_DEADLINE_EXCEEDED: { message: 'deadline exceeded before the call left the gateway: %s', grpc: GrpcStatus.DEADLINE_EXCEEDED, bolt: BoltStatus.TIMEOUT, http: 504 },
  ISTH_ERR_AUTH_DENIED: { message: 'denied: %s', grpc: GrpcStatus.PERMISSION_DENIED, bolt: BoltStatus.SERVER_EXCEPTION, http: 403 },
  ISTH_ERR_AUTH_UNAUTHENTICATED: { message: 'unauthenticated: %s', grpc: GrpcStatus.UNAUTHENTICATED, bolt: BoltStatus.SERVER_EXCEPTION, http: 401 },
  // The auth filter could not get signing keys (JWKS file or URL); the call is answered UNAUTHENTICATED.
  ISTH_ERR_AUTH_JWKS_UNAVAILABLE: { message: 'signing keys are unavailable: %s', grpc: -1, bolt: -1, http: -1 },
  ISTH_ERR_RATE_LIMITED: { message: 'rate limited: %s', grpc: GrpcStatus.RESOURCE_EXHAUSTED, bolt: BoltStatus.SERVER_THREADPOOL_BUSY, http: 429 },
  ISTH_ERR_LDC_UID_MISSING: { message: 'no LDC routing uid: %s', grpc: GrpcStatus.INVALID_ARGUMENT, bolt: BoltStatus.SERVER_EXCEPTION, http: 400 },
  ISTH_ERR_LDC_UID_INVALID: { message: 'malformed LDC routing uid: %s', grpc: GrpcStatus.INVALID_ARGUMENT, bolt: BoltStatus.SERVER_EXCEPTION, http: 400 },
  ISTH_ERR_LDC_NO_ZONE: { message: 'no LDC zone for the call: %s', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.NO_PROCESSOR, http: 503 },
  ISTH_ERR_LDC_PIN_DENIED: { message: 'LDC zone pin refused: %s', grpc: GrpcStatus.PERMISSION_DENIED, bolt: BoltStatus.SERVER_EXCEPTION, http: 403 },
  ISTH_ERR_LDC_LOOP: { message: 'LDC call was already forwarded by another gateway: %s', grpc: GrpcStatus.FAILED_PRECONDITION, bolt: BoltStatus.SERVER_EXCEPTION, http: 508 },
  ISTH_ERR_STRESS_REFUSED: { message: 'stress-test traffic refused: %s', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.SERVER_EXCEPTION, http: 503 },
  ISTH_ERR_STRESS_BAD_BAGGAGE: { message: 'bad trace baggage: %s', grpc: GrpcStatus.INVALID_ARGUMENT, bolt: BoltStatus.SERVER_EXCEPTION, http: 400 },
  ISTH_ERR_FILTER_FAILED: { message: 'filter %s failed', grpc: GrpcStatus.INTERNAL, bolt: BoltStatus.SERVER_EXCEPTION, http: 500 },
  ISTH_ERR_FILTER_DENIED: { message: 'denied by filter: %s', grpc: GrpcStatus.PERMISSION_DENIED, bolt: BoltStatus.SERVER_EXCEPTION, http: 403 },
  ISTH_ERR_TRIPLE_BAD_REQUEST: { message: 'bad Triple request: %s', grpc: GrpcStatus.INTERNAL, bolt: -1, http: 400 },
  ISTH_ERR_BOLT_CODEC: { message: 'bad Bolt frame: %s', grpc: -1, bolt: BoltStatus.CODEC_EXCEPTION, http: -1 },
  // Valid framing, hessian2 content a provider cannot decode: answered by the gateway, never forwarded.
  ISTH_ERR_BOLT_BAD_CONTENT: { message: 'undecodable request content: %s', grpc: -1, bolt: BoltStatus.SERVER_DESERIAL_EXCEPTION, http: -1 },
  ISTH_ERR_BOLT_SLOW_READER: { message: 'client does not read its responses, closing the connection: %s', grpc: -1, bolt: BoltStatus.SERVER_THREADPOOL_BUSY, http: -1 },
  ISTH_ERR_CONFIG_INVALID: { message: 'invalid config: %s', grpc: -1, bolt: -1, http: 400 },
  ISTH_ERR_CONFIG_READ: { message: 'cannot read config: %s', grpc: -1, bolt: -1, http: 500 },
  // A config reload changed a section read only at start (listeners, redis, state, ...).
  ISTH_ERR_CONFIG_RESTART_REQUIRED: { message: 'needs a restart: %s', grpc: -1, bolt: -1, http: 409 },
  ISTH_ERR_ADMIN_REVISION_CONFLICT: { message: 'stale revision: %s', grpc: -1, bolt: -1, http: 409 },
  ISTH_ERR_ADMIN_NOT_FOUND: { message: 'not found: %s', grpc: -1, bolt: -1, http: 404 },
  ISTH_ERR_ADMIN_UNAUTHORIZED: { message: 'unauthorized: %s', grpc: -1, bolt: -1, http: 401 },
  ISTH_ERR_ADMIN_FORBIDDEN: { message: 'forbidden: %s', grpc: -1, bolt: -1, http: 403 },
  ISTH_ERR_ADMIN_BODY_TOO_LARGE: { message: 'body too large: %s', grpc: -1, bolt: -1, http: 413 },
  ISTH_ERR_ADMIN_METHOD: { message: 'method not allowed: %s', grpc: -1, bolt: -1, http: 405 },
  ISTH_ERR_ADMIN_BAD_REQUEST: { message: 'bad request: %s', grpc: -1, bolt: -1, http: 400 },
  ISTH_ERR_ADMIN_MEDIA_TYPE: { message: 'unsupported media type: %s', grpc: -1, bolt: -1, http: 415 },
  ISTH_ERR_ADMIN_EVENTS_FULL: { message: 'too many event watchers: %s', grpc: -1, bolt: -1, http: 503 },
  ISTH_ERR_STATE_CORRUPT: { message: 'state file is corrupt: %s', grpc: -1, bolt: -1, http: 500 },
  ISTH_ERR_CERTS: { message: 'certificate error: %s', grpc: -1, bolt: -1, http: 500 },
  // A TLS peer (upstream gateway) presented another identity than the cluster's peerIdentity.
  ISTH_ERR_CERTS_PEER_IDENTITY: { message: 'peer identity %s', grpc: -1, bolt: -1, http: -1 },
  ISTH_ERR_INTERNAL: { message: 'internal error: %s', grpc: GrpcStatus.INTERNAL, bolt: BoltStatus.SERVER_EXCEPTION, http: 500 },
  // A worker could not apply a new generation (multi-worker gateway): nothing changed anywhere.
  ISTH_ERR_WORKER_APPLY: { message: 'change not applied: %s', grpc: -1, bolt: -1, http: 503 },
  ISTH_ERR_AUDIT_UNAVAILABLE: { message: 'audit trail unavailable: %s', grpc: GrpcStatus.UNAVAILABLE, bolt: BoltStatus.SERVER_THREADPOOL_BUSY, http: 503 },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

/**
 * Codes older than the ISTH_ERR_<AREA>_<WHAT> rule. They keep their names (codes are never
 * renamed: clients and log queries match them); test/gateway/errors.test.ts allows exactly
 * these and no new one.
 */
export const LEGACY_CODES: readonly ErrorCode[] = ['ISTH_ERR_CERTS', 'ISTH_ERR_INTERNAL']

const BRAND = Symbol.for('isthmus.error')

/** The one error class. Thrown only on cold paths (config, admin, startup). */
export class IsthmusError extends Error {
  readonly code: ErrorCode
  /** JSON pointer of the offending input, for config and admin errors. */
  readonly path: string | undefined
  /** The detail the message template was filled with (re-wrap with it, not with `message`). */
  readonly detail: string
  readonly [BRAND] = true

  constructor (code: ErrorCode, detail: string, path?: string, options?: { cause?: unknown }) {
    super(ERRORS[code].message.replace('%s', detail), options)
    this.name = 'IsthmusError'
    this.code = code
    this.path = path
    this.detail = detail
  }

  get httpStatus (): number { return ERRORS[this.code].http }

  /** Matches errors from another copy of the package, as undici does. */
  static override [Symbol.hasInstance] (value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
  }
}

export function formatMessage (code: ErrorCode, detail: string): string {
  return ERRORS[code].message.replace('%s', detail)
}
