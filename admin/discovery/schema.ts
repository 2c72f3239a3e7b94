/** JSON schemas of the discovery push bodies (admin API). */
import { APP_NAME, SERVICE_NAME, SHORT_TEXT } from '../names.js'

const str = { type: 'string', minLength: 1 } as const
const text = { type: 'string', pattern: SHORT_TEXT } as const
const portSchema = { type: 'integer', minimum: 1, maximum: 65535 } as const
const protocolEnum = { enum: ['triple', 'bolt'] } as const
/** Every revision (bodies, `?revision=`, the state file): an exact JSON integer. Above
 *  2^53 - 1 numbers stop being exact, and 1e400 parses to Infinity, which nothing is newer
 *  than: such a revision would lock its resource for good. */
export const MAX_REVISION = Number.MAX_SAFE_INTEGER
export const revisionSchema = { type: 'integer', minimum: 0, maximum: MAX_REVISION } as const

/** App names become cluster names (`<app>:<protocol>`). */
export const appNamePattern = APP_NAME
const serviceName = { type: 'string', pattern: SERVICE_NAME } as const
// Host addresses: an IP (v6 with an optional zone), or a DNS name; never spaces, control
// characters or `/`.
const address = { type: 'string', pattern: '^[^\\s/\\u0000-\\u001f\\u007f]{1,253}$' } as const

export const instanceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'port'],
  properties: {
    address,
    port: portSchema,
    protocols: { type: 'array', items: protocolEnum, minItems: 1, uniqueItems: true },
    ports: { type: 'object', additionalProperties: false, properties: { triple: portSchema, bolt: portSchema } },
    zone: { ...str, pattern: SHORT_TEXT },
    labels: {
      type: 'object',
      maxProperties: 64,
      // `service:` keys are reserved for the marks discovery adds.
      propertyNames: { ...str, pattern: SHORT_TEXT, not: { pattern: '^service:' } },
      additionalProperties: text,
    },
    weight: { type: 'integer', minimum: 1, maximum: 1000 },
    services: { type: 'array', items: serviceName, uniqueItems: true },
  },
} as const

export const exportedServiceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: serviceName, version: text, group: text },
} as const

export const appPushSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['revision', 'instances'],
  properties: {
    revision: revisionSchema,
    instances: { type: 'array', items: instanceSchema },
    services: { type: 'array', items: exportedServiceSchema, default: [] },
  },
} as const

export const servicePushSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['revision', 'app', 'providers'],
  properties: {
    revision: revisionSchema,
    app: { type: 'string', pattern: appNamePattern },
    version: text,
    group: text,
    providers: { type: 'array', items: instanceSchema },
  },
} as const
