/**
 * The schema of one `state` event of GET /v1/events (admin/console/state.ts ConsoleState), for
 * the OpenAPI document (admin/openapi.ts). test/admin/openapi.test.ts checks a live event
 * against it.
 */
type Schema = Record<string, unknown>
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })
const obj = (required: string[], properties: Record<string, unknown>): Schema => ({ type: 'object', required, properties })
/** One `state` event of GET /v1/events (admin/console/state.ts). */
const nullable = (type: string): Schema => ({ type: [type, 'null'] })
/** One record of the audit filter's recent records (filters/audit/recent.ts): metadata, no body. */
export const auditRecord: Schema = {
  ...obj(['time', 'proto', 'caller', 'peer', 'addr', 'service', 'method', 'route', 'cluster', 'host', 'status', 'code', 'ms', 'traceId', 'sofaTraceId', 'decisions', 'headers'], {
    time: { type: 'string', format: 'date-time', description: 'when the call started (the trail record\'s `time`)' },
    proto: { enum: ['triple', 'bolt'] },
    caller: { oneOf: [{ type: 'null' }, obj(['principal', 'entity', 'app', 'auth'], { principal: { type: 'string' }, entity: nullable('string'), app: nullable('string'), auth: { type: 'string' } })] },
    peer: nullable('string'), addr: { type: 'string' }, service: { type: 'string' }, method: { type: 'string' },
    route: nullable('string'), cluster: nullable('string'), host: nullable('string'),
    status: { type: 'integer', description: 'gRPC status (Triple) or Bolt response status' },
    code: { ...nullable('string'), description: 'ISTH_ERR_* code of a gateway-made failure' },
    ms: { type: 'number', description: 'latency' },
    traceId: { type: 'string', description: 'W3C trace id (finds the record in the trail)' }, sofaTraceId: { type: 'string' },
    decisions: { type: 'array', items: obj(['filter', 'action'], { filter: { type: 'string' }, action: { type: 'string' } }) },
    headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'the allow-listed headers as the trail has them; redacted ones read "[redacted]"' },
  }),
  additionalProperties: false,
}
export const auditRecent: Schema = obj(['total', 'capacity', 'records'], { total: { type: 'integer' }, capacity: { type: 'integer' }, records: { type: 'array', items: ref('AuditRecord') } })

export const consoleState: Schema = obj(['at', 'generation', 'listeners', 'routes', 'clusters', 'discovery', 'revisions', 'ldc', 'counters', 'audit'], {
  at: { type: 'string', format: 'date-time' },
  generation: { type: ['integer', 'null'] },
  listeners: { type: 'array', items: obj(['name', 'address', 'tls', 'connections'], { name: { type: 'string' }, address: { type: 'string' }, tls: { type: 'boolean' }, connections: { type: ['integer', 'null'] } }) },
  routes: { type: 'array', items: obj(['name', 'match', 'cluster', 'callsPerSec', 'errorRate'], { name: { type: 'string' }, match: { type: 'string' }, cluster: { type: 'string' }, callsPerSec: { type: 'number' }, errorRate: { type: 'number', minimum: 0, maximum: 1 } }) },
  clusters: {
    type: 'array',
    items: obj(['name', 'protocol', 'hosts', 'totalHosts'], {
      name: { type: 'string' }, protocol: { type: 'string' }, totalHosts: { type: 'integer' },
      hosts: { type: 'array', items: obj(['id', 'labels', 'zone', 'health', 'inFlight'], { id: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } }, zone: { type: 'string' }, health: { enum: ['healthy', 'unhealthy', 'ejected'] }, ejectedMsLeft: { type: 'number' }, ejectReason: { type: 'string' }, inFlight: { type: 'integer' }, shard: { enum: ['this replica', 'other replica'] } }) },
    }),
  },
  discovery: { oneOf: [{ type: 'null' }, obj(['apps', 'total'], { total: { type: 'integer' }, apps: { type: 'array', items: obj(['name', 'kind', 'instances', 'revision', 'pushedAt'], { name: { type: 'string' }, kind: { enum: ['app', 'service'] }, instances: { type: 'integer' }, revision: { type: 'integer' }, pushedAt: { type: 'string' } }) } })] },
  revisions: { oneOf: [{ type: 'null' }, { type: 'array', items: ref('RevisionRecord') }] },
  ldc: { oneOf: [{ type: 'null' }, { type: 'object' }] },
  counters: { type: 'array', items: obj(['name', 'labels', 'value'], { name: { type: 'string' }, labels: { type: 'object' }, value: { type: 'number' } }) },
  audit: { oneOf: [{ type: 'null' }, auditRecent] },
})
