/**
 * Export with a real Redis (its own redis-server, AOF on, on a free port): traffic through the
 * gateway (the compiled CLI), Redis killed mid-run and restarted, the exporter killed and
 * restarted, the gateway restarted once; after the exporter drains, the sink holds every
 * record exactly once by id, in order, and the exported copy verifies like the local trail.
 */
import test from 'ava'
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { runCli, spawnGateway, type RunningGateway } from '../_helpers/cli.js'
import { exited, freePort, sinkLines, startExporter, startRedis } from '../_helpers/audit-export.js'
import { tempDir } from '../filters/audit/_trail.js'
import { records, until } from '../filters/audit/_read.js'

test('every record reaches the sink exactly once and in order across a Redis kill, an exporter kill and a gateway restart', async t => {
  t.timeout(400_000) // generous: a loaded machine slows every process here; the waits are on events
  const work = tempDir(t, 'isthmus-audit-export-')
  const auditDir = join(work, 'audit')
  const sinkDir = join(work, 'sink')
  const redisPort = await freePort()
  let redis = await startRedis(redisPort, work)
  t.teardown(() => { redis.kill('SIGKILL') })
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  writeFileSync(join(work, 'audit-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  writeFileSync(join(work, 'audit-key.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }))
  const configFile = join(work, 'gateway.yaml')
  writeFileSync(configFile, `
entity: bank
listeners:
  triple: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0, token: t }
clusters:
  - { name: echo, protocol: triple, hosts: [ { address: 127.0.0.1, port: ${echo.port} } ] }
routes:
  - { name: echo, match: { service: isthmus.test.Echo }, cluster: echo }
redis: { url: "redis://127.0.0.1:${redisPort}", keyPrefix: "exp-test:" }
audit:
  enabled: true
  dir: ./audit
  queue: true
  flushMs: 10
  rotate: { maxBytes: 32768 }
  checkpoint: { records: 40, intervalMs: 500, key: ./audit-key.pem }
  headers: { allow: [x-audit-id] }
  export: { maxJobBytes: 65536 }
log: { level: info, access: off }
drain: { timeoutMs: 2000 }
`)
  let gw: RunningGateway = await spawnGateway(configFile, ['triple'])
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const exporterErr: string[] = []
  let exporter = startExporter(redisPort, sinkDir, exporterErr)
  t.teardown(() => { exporter.kill('SIGKILL') })

  const sent: string[] = []
  let next = 0
  const traffic = async (n: number): Promise<void> => {
    const client = echoClient(gw.ports.triple)
    try {
      for (let i = 0; i < n; i += 8) {
        await Promise.all(Array.from({ length: Math.min(8, n - i) }, async () => {
          const id = `c${++next}`
          const md = new grpc.Metadata()
          md.set('x-audit-id', id)
          await unary(client, { message: id }, md)
          sent.push(id)
        }))
      }
    } finally { client.close() }
  }

  await traffic(120)
  await until(() => sinkLines(sinkDir).some(l => l.k === 'rec'), 120_000, () => `no record exported yet; exporter: ${exporterErr.join('').slice(-500)}`) // the export runs
  redis.kill('SIGKILL')
  await exited(redis)
  await traffic(120) // Redis down: the gateway serves, records go to the spool
  exporter.kill('SIGKILL') // mid-job or not: a stalled job goes back to the head of the queue
  await exited(exporter)
  redis = await startRedis(redisPort, work)
  exporter = startExporter(redisPort, sinkDir, exporterErr)
  await traffic(60)
  gw.child.kill('SIGTERM') // graceful restart: everything taken is on disk, the cursor too
  t.is((await gw.exited).code, 0)
  gw = await spawnGateway(configFile, ['triple'])
  await traffic(100)

  const total = sent.length
  await until(() => sinkLines(sinkDir).filter(l => l.k === 'rec').length >= total, 180_000,
    () => `${sinkLines(sinkDir).filter(l => l.k === 'rec').length} of ${total} records in the sink; exporter: ${exporterErr.join('').slice(-500)}`)
  // Let anything duplicated or late arrive before judging "exactly once".
  await new Promise(resolve => setTimeout(resolve, 1500))
  gw.child.kill('SIGTERM')
  await gw.exited
  exporter.kill('SIGTERM')
  t.is(await exited(exporter), 0)

  const sink = sinkLines(sinkDir)
  const recs = sink.filter(l => l.k === 'rec')
  t.is(recs.length, total, 'every record once')
  t.is(new Set(recs.map(r => r.id)).size, total, 'no id twice')
  t.deepEqual(new Set(recs.map(r => r.call.headers['x-audit-id'])), new Set(sent), 'the calls made, all of them')
  const trails = new Set(recs.map(r => r.id.split('.')[0]))
  t.is(trails.size, 1, 'one trail: the restart continued it')
  t.deepEqual(recs.map(r => r.seq), Array.from({ length: total }, (_, i) => i + 1), 'in order, no gap')
  t.deepEqual(recs.map(r => r.id), records(auditDir).map(r => r.id), 'the same records as the local trail, in the same order')
  t.true(sink.filter(l => l.k === 'seg').length >= 2, 'segment headers exported too (rotation and restart)')

  const pub = join(work, 'audit-key.pub.pem')
  const exported = await runCli(['audit', 'verify', '--key', pub, join(sinkDir, 'audit.ndjson'), join(sinkDir, 'checkpoints.ndjson')])
  t.is(exported.code, 0, exported.stdout + exported.stderr)
  t.regex(exported.stdout, new RegExp(`^ok trail [0-9a-f]{16} \\(entity bank, node [^)]+\\): records 1\\.\\.${total} `, 'm'))
  const local = await runCli(['audit', 'verify', '--key', pub, auditDir])
  t.is(local.code, 0, local.stdout + local.stderr)
})
