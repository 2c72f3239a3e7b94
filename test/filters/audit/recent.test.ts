/**
 * The audit filter's recent records (filters/audit/recent.ts) through the admin API
 * (`GET /v1/audit/recent`) of a real gateway: metadata of each call as the trail has it,
 * newest first, bounded to the capacity, no body byte, redacted headers redacted; `enabled:
 * false` on a gateway without audit. Serial: the view is process-wide.
 */
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { RECENT_CAPACITY } from '../../../filters/audit/recent.js'
import { echoClient, startEchoServer, unary } from '../../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../../_helpers/gateway.js'
import { httpJson } from '../../_helpers/http.js'
import { records, until } from './_read.js'
import { tempDir } from './_trail.js'

const BODY = 'BODY-MARKER-recent-5d1e'
const SECRET = 'Bearer SECRET-recent-77ab'
const AUTH = { authorization: 'Bearer test-token' }

type AddFormats = (a: Ajv2020) => Ajv2020
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats

/** The response against the operation's schema in the gateway's own OpenAPI document. */
async function matchesDocument (port: number, value: unknown): Promise<string | null> {
  const doc = (await httpJson(port, 'GET', '/v1/openapi.json', undefined, AUTH)).body as { components: object, paths: Record<string, any> }
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  ajv.addSchema({ $id: 'urn:isthmus:admin', components: doc.components } as object)
  const schema = doc.paths['/v1/audit/recent'].get.responses['200'].content['application/json'].schema as object
  const fn = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"urn:isthmus:admin#/components/')) as object)
  return fn(value) ? null : ajv.errorsText(fn.errors)
}

interface Recent { enabled: boolean, total: number, capacity: number, records: Array<Record<string, any>> }

async function recent (port: number): Promise<{ status: number, body: Recent, text: string }> {
  const r = await httpJson(port, 'GET', '/v1/audit/recent', undefined, AUTH)
  return { status: r.status, body: r.body as Recent, text: JSON.stringify(r.body) }
}

/** Poll the endpoint until `ok` holds (generous deadline: the machine is shared). */
async function recentWhen (port: number, ok: (b: Recent) => boolean): Promise<{ status: number, body: Recent, text: string }> {
  const deadline = Date.now() + 30000
  for (;;) {
    const r = await recent(port)
    if (r.status !== 200 || ok(r.body) || Date.now() > deadline) return r
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

function md (id: string, extra: Record<string, string> = {}): grpc.Metadata {
  const m = new grpc.Metadata()
  m.set('x-audit-id', id)
  for (const [k, v] of Object.entries(extra)) m.set(k, v)
  return m
}

test.serial('without audit the endpoint says enabled: false and the console state has no audit panel', async t => {
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const gw = await startTestGateway(t, tripleConfig([echo.port]))
  const r = await recent(gw.addresses.admin!.port)
  t.is(r.status, 200)
  t.deepEqual(r.body, { enabled: false, total: 0, capacity: 0, records: [] })
  const page = await fetch(`http://127.0.0.1:${gw.addresses.admin!.port}/console`, { headers: AUTH })
  t.is(page.status, 200)
  t.true((await page.text()).includes('"audit":null'))
})

test.serial('the last records, newest first, metadata only: no body, redacted headers redacted, bounded', async t => {
  const dir = tempDir(t)
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const gw = await startTestGateway(t, tripleConfig([echo.port], {
    entity: 'bank',
    audit: { enabled: true, dir, flushMs: 10, headers: { allow: ['x-audit-id', 'authorization'] } },
  }))
  const admin = gw.addresses.admin!.port
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())

  const trace = '4bf92f3577b34da6a3ce929d0e0e4736'
  await unary(client, { message: BODY, payload: Buffer.from(BODY) }, md('first', { authorization: SECRET, traceparent: `00-${trace}-00f067aa0ba902b7-01` }))
  await unary(client, { message: BODY, failCode: 5 }).catch(() => {})
  // onLog runs when the call has ended on the gateway, which may be after the client has its answer.
  let r = await recentWhen(admin, b => b.total >= 2)
  t.is(r.status, 200)
  t.true(r.body.enabled)
  t.is(r.body.capacity, RECENT_CAPACITY)
  t.is(r.body.total, 2)
  t.is(r.body.records.length, 2)
  const [failed, first] = r.body.records
  t.is(failed.status, 5)
  t.like(first, {
    proto: 'triple', service: 'isthmus.test.Echo', method: 'Unary', route: 'all', cluster: 'echo', status: 0, code: null,
    traceId: trace, headers: { 'x-audit-id': 'first', authorization: '[redacted]' }, caller: null,
  })
  t.regex(first.time, /^\d{4}-\d\d-\d\dT/)
  t.is(typeof first.ms, 'number')
  t.is(first.host, `127.0.0.1:${echo.port}`)
  t.is(await matchesDocument(admin, r.body), null, 'as documented in admin/openapi.ts')
  t.false(r.text.includes(BODY), 'no body byte')
  t.false(r.text.includes('SECRET-recent'), 'a redacted header value is never shown')
  const page = await (await fetch(`http://127.0.0.1:${admin}/console`, { headers: AUTH })).text()
  t.true(page.includes('"traceId":"' + trace + '"'), 'the console state carries the records')
  t.false(page.includes(BODY) || page.includes('SECRET-recent'))

  // The same call is in the trail with the same metadata.
  await until(() => records(dir).some(x => x.call.headers['x-audit-id'] === 'first'))
  const rec = records(dir).find(x => x.call.headers['x-audit-id'] === 'first')!
  t.is(rec.time, first.time)
  t.is(rec.call.ms, first.ms)
  t.is(rec.call.trace.id, first.traceId)

  // Past the capacity: the newest `capacity` records, newest first.
  const extra = RECENT_CAPACITY + 5
  for (let i = 0; i < extra; i++) await unary(client, { message: 'x' }, md(`n${i}`))
  r = await recentWhen(admin, b => b.total >= 2 + extra)
  t.is(r.body.total, 2 + extra)
  t.is(r.body.records.length, RECENT_CAPACITY)
  t.deepEqual(r.body.records.map(x => x.headers['x-audit-id']), Array.from({ length: RECENT_CAPACITY }, (_, k) => `n${extra - 1 - k}`))
})
