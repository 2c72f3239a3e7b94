/** Building blocks shared by the config schema's parts (schema.ts and its sections). */
export const str = { type: 'string', minLength: 1 } as const
export const port = { type: 'integer', minimum: 0, maximum: 65535 } as const
// Every integer is bounded: beyond 2^53 - 1 JSON numbers stop being exact.
export const MAX_INT = Number.MAX_SAFE_INTEGER
export const posInt = { type: 'integer', minimum: 1, maximum: MAX_INT } as const
export const nonNegInt = { type: 'integer', minimum: 0, maximum: MAX_INT } as const
export const labels = { type: 'object', additionalProperties: { type: 'string' } } as const
/** Response statuses an outlier policy may count (a caller's CANCELLED and DEADLINE_EXCEEDED never). */
export const OUTLIER_GRPC_STATUSES = ['UNKNOWN', 'RESOURCE_EXHAUSTED', 'ABORTED', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS'] as const
export const OUTLIER_BOLT_STATUSES = ['ERROR', 'SERVER_EXCEPTION', 'UNKNOWN', 'SERVER_THREADPOOL_BUSY', 'ERROR_COMM', 'NO_PROCESSOR', 'TIMEOUT', 'SERVER_SERIAL_EXCEPTION', 'SERVER_DESERIAL_EXCEPTION'] as const
/** An optional object with only known keys, filled with its properties' defaults. */
export function section<P extends Record<string, unknown>> (properties: P) {
  return { type: 'object', additionalProperties: false, default: {}, properties } as const
}

export const tlsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['cert', 'key'],
  properties: {
    cert: str,
    key: str,
    ca: str,
    requireClientCert: { type: 'boolean', default: false },
    servername: str,
    peerIdentity: str,
  },
} as const

export const stringMatchSchema = {
  oneOf: [
    str,
    {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: { exact: { type: 'string' }, prefix: { type: 'string' }, regex: { type: 'string', format: 'regex' } },
    },
  ],
} as const

/** A zone name: used as a host label value, in headers and in metric labels. */
export const zoneName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' } as const
/** A header / Bolt header-map key the LDC filter reads or writes (lower-case for Triple). */
export const headerName = { type: 'string', pattern: '^[a-z0-9_.-][a-z0-9_.-]{0,127}$' } as const
