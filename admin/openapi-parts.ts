/** The OpenAPI document's shared pieces: schema helpers and `components` (admin/openapi.ts). */
import { clusterSchema, filterEntrySchema, gatewaySchema, hostSchema, ldcSchema, policiesSchema, routeSchema } from '../gateway/config/schema.js'
import { appPushSchema, instanceSchema, revisionSchema, servicePushSchema } from './discovery/schema.js'
import { auditRecord, consoleState } from './console/openapi-schema.js'

export type Schema = Record<string, unknown>
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })

/** A schema without `$id` (it would rebase every `$ref` inside the document). */
export function plain (schema: object): Schema {
  const { $id: _id, ...rest } = structuredClone(schema) as Schema
  return rest
}

/** An object schema with `revision` added and required (what the admin's validators do). */
export function withRevision (schema: object, required: readonly string[] = []): Schema {
  const s = plain(schema) as { properties: Record<string, unknown>, required?: string[] }
  return { ...s, properties: { revision: ref('Revision'), ...s.properties }, required: [...new Set(['revision', ...(s.required ?? []), ...required])] }
}

export const writeResult: Schema = {
  type: 'object', additionalProperties: false, required: ['key', 'revision', 'changed', 'generation'],
  properties: {
    key: { type: 'string', description: 'the resource key (cluster/<name>, app/<app>, service/<service>, filter/<name>, routes, ldc, policies)' },
    revision: ref('Revision'),
    changed: { type: 'boolean', description: 'false: the same revision with the same content was already stored (a replay)' },
    generation: { type: 'integer', description: 'snapshot generation now live' },
  },
}
export const revisionAndName = { type: 'object', additionalProperties: false, required: ['name', 'revision'], properties: { name: { type: 'string' }, revision: ref('Revision') } }
export const listOf = (key: string, item: Schema): Schema => ({ type: 'object', additionalProperties: false, required: [key], properties: { [key]: { type: 'array', items: item } } })

export const components: Schema = {
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
