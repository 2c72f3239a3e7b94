/**
 * The core's call events (`call.report` -> `Filter.onEvent`), with the audit filter as the
 * consumer: an event reported from an onLog hook is delivered after the call's onLog hooks,
 * so its trail line follows the call's record and links to it; reserved or malformed kinds,
 * and data with keys the exporter searches for, are refused and counted, never written.
 */
import test from 'ava'
import { fileURLToPath } from 'node:url'
import { startTestGateway } from '../_helpers/gateway.js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { verifyTrail } from '../../filters/audit/verify.js'
import { tempDir } from '../filters/audit/_trail.js'
import { auditLines, records, until } from '../filters/audit/_read.js'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const reporter = fileURLToPath(new URL('../_helpers/filters/report-event.ts', import.meta.url))

test('an event reported in onLog is written after its call\'s record, linked to it; reserved kinds are refused', async (t) => {
  const dir = tempDir(t)
  const echo = await startEchoServer()
  t.teardown(() => echo.kill())
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'x' } },
    clusters: [{ name: 'echo', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: echo.port }] }],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'echo' }],
    filters: [{ name: 'report-event', module: reporter, config: { kinds: ['probe', 'rec', 'ckpt', 'Bad Kind'] } }],
    audit: { enabled: true, dir, flushMs: 10 },
    drain: { timeoutMs: 1000 },
  })
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  for (let i = 0; i < 3; i++) await unary(client, { message: `m${i}` })
  await until(() => auditLines(dir).filter(l => l.k === 'probe').length === 3, 30000)
  const lines = auditLines(dir)
  t.is(records(dir).length, 3, 'the reserved kinds wrote no record-like line')
  t.deepEqual([...new Set(lines.map(l => l.k))].sort(), ['probe', 'rec', 'seg'])
  lines.forEach((l, i) => {
    if (l.k !== 'probe') return
    t.is(lines[i - 1].id, l.rec, 'right after its record, linked to it')
    t.deepEqual(l.data, { status: 0, svc: 'isthmus.test.Echo' })
  })
  const files = readdirSync(dir).filter(n => n.endsWith('.ndjson')).map(n => ({ name: n, text: readFileSync(join(dir, n), 'utf8') }))
  t.deepEqual(verifyTrail(files, null).problems, [])
  const metrics = await (await fetch(`http://127.0.0.1:${gw.addresses.admin!.port}/metrics`)).text()
  const dropped = Number(/^isthmus_audit_dropped_events_total (\d+)/m.exec(metrics)?.[1])
  t.true(dropped >= 15, `refused events counted (${dropped})`)
})
