/**
 * The schema of one `state` event of GET /v1/events (admin/console/state.ts ConsoleState), for
 * the OpenAPI document (admin/openapi.ts). test/admin/openapi.test.ts checks a live event
 * against it.
 */
type Schema = Record<string, unknown>
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })
const obj = (required: string[], properties: Record<string, unknown>): Schema => ({ type: 'object', required, properties })
/** One `state` event of GET /v1/events (admin/console/state.ts). */
export const consoleState: Schema = obj(['at', 'generation', 'listeners', 'routes', 'clusters', 'discovery', 'revisions', 'ldc', 'counters'], {
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
})
