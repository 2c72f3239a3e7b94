/** JSON schemas of the discovery push bodies (admin API). */
const str = { type: 'string', minLength: 1 } as const
const portSchema = { type: 'integer', minimum: 1, maximum: 65535 } as const
const protocolEnum = { enum: ['triple', 'bolt'] } as const
export const revisionSchema = { type: 'integer', minimum: 0 } as const

/** App names become cluster names (`<app>:<protocol>`). */
export const appNamePattern = '^[A-Za-z0-9][A-Za-z0-9._-]{0,118}$'

export const instanceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'port'],
  properties: {
    address: str,
    port: portSchema,
    protocols: { type: 'array', items: protocolEnum, minItems: 1, uniqueItems: true },
    ports: { type: 'object', additionalProperties: false, properties: { triple: portSchema, bolt: portSchema } },
    zone: str,
    labels: {
      type: 'object',
      // `service:` keys are reserved for the marks discovery adds.
      propertyNames: { not: { pattern: '^service:' } },
      additionalProperties: { type: 'string' },
    },
    weight: { type: 'integer', minimum: 1, maximum: 1000 },
    services: { type: 'array', items: str, uniqueItems: true },
  },
} as const

export const exportedServiceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: str, version: { type: 'string' }, group: { type: 'string' } },
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
    version: { type: 'string' },
    group: { type: 'string' },
    providers: { type: 'array', items: instanceSchema },
  },
} as const
