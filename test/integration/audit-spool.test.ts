/**
 * The spool policy while Redis is unreachable (a closed port): `drop` deletes the oldest
 * segments the queue has not taken (counted) and keeps serving; `refuse` refuses calls with
 * ISTH_ERR_AUDIT_UNAVAILABLE once the spool is over its bound, and records the refusals.
 */
import test from 'ava'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { verifyTrail } from '../../filters/audit/verify.js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { metricsText } from '../_helpers/http.js'
import { segmentFiles, tempDir } from '../filters/audit/_trail.js'
import { records, until } from '../filters/audit/_read.js'

async function closedPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

async function metric (adminPort: number, name: string): Promise<number> {
  const text = await metricsText(adminPort)
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return m === null ? NaN : Number(m[1])
}

function spoolConfig (echoPort: number, redisPort: number, dir: string, onFull: 'drop' | 'refuse'): Record<string, unknown> {
  return tripleConfig([echoPort], {
    redis: { url: `redis://127.0.0.1:${redisPort}` },
    audit: { enabled: true, dir, queue: true, flushMs: 10, rotate: { maxBytes: 8192 }, spool: { maxBytes: 65536, onFull }, headers: { allow: ['x-n'] } },
  })
}

test('drop: past spool.maxBytes the oldest unexported segments are deleted and counted; calls go on', async t => {
  const dir = tempDir(t)
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const gw = await startTestGateway(t, spoolConfig(echo.port, await closedPort(), dir, 'drop'))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  let n = 0
  // Records are ~1 KiB: 150 calls make over twice the 64 KiB bound.
  for (let i = 0; i < 150; i++) await unary(client, { message: 'x' }).then(() => n++)
  t.is(n, 150)
  await until(() => !existsSync(join(dir, 'audit-000001.ndjson')))
  t.true(await metric(gw.addresses.admin.port, 'isthmus_audit_export_dropped_records_total') > 0)
  t.true(await metric(gw.addresses.admin.port, 'isthmus_audit_spool_bytes') <= 65536 + 8192 + 4096)
  t.is(await metric(gw.addresses.admin.port, 'isthmus_audit_redis_up'), 0)
  await gw.close()
  t.true(records(dir).length < 150, 'the oldest records were dropped')
  // What is left still verifies: the oldest remaining segment anchors the chain.
  const files = [...segmentFiles(dir), join(dir, 'checkpoints.ndjson')].map(f => ({ name: f, text: readFileSync(f, 'utf8') }))
  const v = verifyTrail(files, null)
  t.deepEqual(v.problems, [])
})

test('refuse: past spool.maxBytes calls get UNAVAILABLE (ISTH_ERR_AUDIT_UNAVAILABLE) and are still recorded', async t => {
  const dir = tempDir(t)
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const gw = await startTestGateway(t, spoolConfig(echo.port, await closedPort(), dir, 'refuse'))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  let refused: grpc.ServiceError | null = null
  let i = 0
  const end = Date.now() + 60_000
  for (; Date.now() < end && refused === null; i++) {
    const md = new grpc.Metadata()
    md.set('x-n', String(i))
    try { await unary(client, { message: 'x' }, md) } catch (err) { refused = err as grpc.ServiceError }
  }
  t.not(refused, null, 'a call was refused')
  t.is(refused!.code, grpc.status.UNAVAILABLE)
  t.regex(refused!.details, /^audit trail unavailable: the audit spool is full/)
  t.is(echo.calls, i - 1, 'the refused call never reached the upstream')
  await gw.close()
  const recs = records(dir)
  t.is(recs.length, i, 'every call, the refused one too, has its record')
  t.like(recs.at(-1)!.call, { code: 'ISTH_ERR_AUDIT_UNAVAILABLE', status: 14, route: null })
  t.like(recs.at(-1)!.call.decisions[0], { filter: 'audit', action: 'deny', reason: 'audit spool full' })
})
