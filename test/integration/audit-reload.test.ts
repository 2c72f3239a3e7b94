/** A config change that recompiles the audit filter keeps one writer per directory: one chain, no record lost or doubled. */
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { verifyTrail } from '../../filters/audit/verify.js'
import { validateOptions } from '../../gateway/config/load.js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { segmentFiles, tempDir } from '../filters/audit/_trail.js'
import { records, until } from '../filters/audit/_read.js'

test('a new audit config (new filter instance, same dir) continues the same trail while the old instance drains', async t => {
  const dir = tempDir(t)
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const base = tripleConfig([echo.port], { audit: { enabled: true, dir, flushMs: 5, headers: { allow: [] } } })
  const gw = await startTestGateway(t, base)
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  for (let i = 0; i < 10; i++) await unary(client, { message: 'a' })
  const next = validateOptions(structuredClone({ ...base, audit: { enabled: true, dir, flushMs: 5, headers: { allow: ['x-late'] } } }))
  const snap = await gw.apply(next)
  t.not(snap.chains.triple.log![0].filter, undefined)
  for (let i = 0; i < 10; i++) await unary(client, { message: 'b' })
  await until(() => records(dir).length === 20)
  await gw.close()
  const recs = records(dir)
  t.deepEqual(recs.map(r => r.seq), Array.from({ length: 20 }, (_, i) => i + 1))
  t.is(segmentFiles(dir).length, 1)
  const v = verifyTrail([...segmentFiles(dir), join(dir, 'checkpoints.ndjson')].map(f => ({ name: f, text: readFileSync(f, 'utf8') })), null)
  t.true(v.ok, v.problems.join('\n'))
})
