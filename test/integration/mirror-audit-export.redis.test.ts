/**
 * Mirror mismatch lines travel with the trail through the export (BullMQ in a private
 * redis-server -> `isthmus audit export` -> file sink): the compiled gateway writes them,
 * the sink receives each once, byte for byte as in the local trail, and the exported copy
 * verifies with `isthmus audit verify`.
 */
import test from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { runCli, spawnGateway } from '../_helpers/cli.js'
import { exited, freePort, sinkLines, startExporter, startRedis } from '../_helpers/audit-export.js'
import { tempDir } from '../filters/audit/_trail.js'
import { auditLines, until } from '../filters/audit/_read.js'

test('mismatch lines are exported with the records and the exported copy verifies', async t => {
  t.timeout(300_000) // generous: a loaded machine starts every process slowly; the waits are on events
  const work = tempDir(t, 'isthmus-mirror-export-')
  const auditDir = join(work, 'audit')
  const sinkDir = join(work, 'sink')
  const redisPort = await freePort()
  const redis = await startRedis(redisPort, work)
  t.teardown(() => { redis.kill('SIGKILL') })
  const primary = await startEchoServer()
  const differs = await startEchoServer('ech0')
  t.teardown(() => primary.kill())
  t.teardown(() => differs.kill())
  const configFile = join(work, 'gateway.yaml')
  writeFileSync(configFile, `
entity: bank
listeners:
  triple: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0, token: t }
clusters:
  - { name: primary, protocol: triple, hosts: [ { address: 127.0.0.1, port: ${primary.port} } ] }
  - { name: shadow, protocol: triple, hosts: [ { address: 127.0.0.1, port: ${differs.port} } ] }
routes:
  - { name: echo, match: { service: isthmus.test.Echo }, cluster: primary }
filters:
  - name: mirror
    config: { auditPerSecond: 1000, routes: [ { route: echo, compare: {}, targets: [ { cluster: shadow, fraction: 1 } ] } ] }
redis: { url: "redis://127.0.0.1:${redisPort}", keyPrefix: "mirror-exp:" }
audit:
  enabled: true
  dir: ./audit
  queue: true
  flushMs: 10
  checkpoint: { records: 5, intervalMs: 500 }
log: { level: info, access: off }
drain: { timeoutMs: 2000 }
`)
  const gw = await spawnGateway(configFile, ['triple'])
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const exporterErr: string[] = []
  const exporter = startExporter(redisPort, sinkDir, exporterErr, 'mirror-exp:')
  t.teardown(() => { exporter.kill('SIGKILL') })

  const client = echoClient(gw.ports.triple)
  for (let i = 0; i < 12; i++) await unary(client, { message: `secret-body-marker-${i}` })
  client.close()
  await until(() => auditLines(auditDir).filter(l => l.k === 'mirror').length === 12, 120_000, () => `${auditLines(auditDir).filter(l => l.k === 'mirror').length} mirror lines in the local trail`)
  await until(() => sinkLines(sinkDir).filter(l => l.k === 'mirror').length >= 12 && sinkLines(sinkDir).filter(l => l.k === 'rec').length >= 12, 120_000,
    () => `${sinkLines(sinkDir).filter(l => l.k === 'mirror').length} mirror lines in the sink; exporter: ${exporterErr.join('').slice(-500)}`)
  await new Promise(resolve => setTimeout(resolve, 1000)) // anything duplicated arrives before "once" is judged
  gw.child.kill('SIGTERM')
  t.is((await gw.exited).code, 0)
  const local = auditLines(auditDir)
  exporter.kill('SIGTERM')
  t.is(await exited(exporter), 0)

  const sink = sinkLines(sinkDir)
  const sunk = sink.filter(l => l.k === 'mirror')
  t.is(sunk.length, 12, 'each mismatch line once')
  t.deepEqual(sunk.map(l => l.h), local.filter(l => l.k === 'mirror').map(l => l.h), 'the same lines as the local trail, in order')
  const ids = new Set(sink.filter(l => l.k === 'rec').map(l => l.id))
  t.true(sunk.every(l => ids.has(l.rec)), 'each links to an exported record')
  t.false(readFileSync(join(sinkDir, 'audit.ndjson'), 'utf8').includes('secret-body-marker'), 'no body bytes in the export')
  const verified = await runCli(['audit', 'verify', join(sinkDir, 'audit.ndjson'), join(sinkDir, 'checkpoints.ndjson')])
  t.is(verified.code, 0, verified.stdout + verified.stderr)
  t.regex(verified.stdout, /^ok trail [0-9a-f]{16} /m)
})
