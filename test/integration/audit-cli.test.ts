/** `isthmus audit` through the compiled CLI: verify's exit codes and messages, keygen, and a gateway killed with SIGKILL that continues its trail. */
import test from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { loadSigner } from '../../filters/audit/checkpoint.js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { runCli, spawnGateway } from '../_helpers/cli.js'
import { segmentFiles, tempDir, writeTrail } from '../filters/audit/_trail.js'
import { records, until } from '../filters/audit/_read.js'

test('verify: 0 and a summary when intact, 1 and the first broken record when not, 2 for bad usage or signed checkpoints without --key', async t => {
  const work = tempDir(t)
  const kg = await runCli(['audit', 'keygen', '--out', work])
  t.is(kg.code, 0, kg.stderr)
  t.regex(kg.stdout, /key id sha256:[0-9a-f]{64}/)
  t.is((await runCli(['audit', 'keygen', '--out', work])).code, 2, 'keygen does not overwrite')
  const dir = join(work, 'trail')
  writeTrail(dir, { records: 30, checkpointEvery: 10, signer: loadSigner(readFileSync(join(work, 'audit-key.pem'), 'utf8')) })
  const pub = join(work, 'audit-key.pub.pem')

  const ok = await runCli(['audit', 'verify', '--key', pub, dir])
  t.is(ok.code, 0, ok.stdout + ok.stderr)
  t.regex(ok.stdout, /^ok trail [0-9a-f]{16} \(entity bank, node n1\): records 1\.\.30 in segment 1\.\.1, 3 checkpoints \(signed by sha256:/m)
  const noKey = await runCli(['audit', 'verify', dir])
  t.is(noKey.code, 2)
  t.regex(noKey.stderr, /the checkpoints are signed: pass --key/)

  const seg = segmentFiles(dir)[0]
  writeFileSync(seg, readFileSync(seg, 'utf8').replace('"method":"m17"', '"method":"m71"'))
  const broken = await runCli(['audit', 'verify', '--key', pub, dir])
  t.is(broken.code, 1)
  t.regex(broken.stdout, /^BROKEN .*audit-000001\.ndjson:\d+: record seq 17 \(id [0-9a-f]{16}\.17\) was altered/m)

  t.is((await runCli(['audit', 'verify'])).code, 2)
  const missing = await runCli(['audit', 'verify', join(work, 'nope')])
  t.is(missing.code, 2)
  t.regex(missing.stderr, /^isthmus: audit verify: .*nope: no such file or directory\n$/)
  const help = await runCli(['audit', 'verify', '--help'])
  t.is(help.code, 0)
  t.regex(help.stdout, /Usage: isthmus audit verify/)
  t.is((await runCli(['audit', 'export', '--help'])).code, 0)
  const noSink = await runCli(['audit', 'export', '--redis', 'redis://127.0.0.1:1'])
  t.is(noSink.code, 2)
  t.regex(noSink.stderr, /no sink/)
  t.is((await runCli(['audit', 'bogus'])).code, 2)
})

test('a gateway killed with SIGKILL is restarted on the same directory: the stale lock is taken over and the chain continues', async t => {
  const work = tempDir(t)
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const cfg = join(work, 'gw.yaml')
  writeFileSync(cfg, `
entity: bank
listeners: { triple: { host: 127.0.0.1, port: 0 }, admin: { host: 127.0.0.1, port: 0, token: t } }
clusters: [ { name: echo, protocol: triple, hosts: [ { address: 127.0.0.1, port: ${echo.port} } ] } ]
routes: [ { name: echo, match: { service: isthmus.test.Echo }, cluster: echo } ]
audit: { enabled: true, dir: ./audit, flushMs: 5 }
log: { access: off }
`)
  const calls = async (port: number, n: number): Promise<void> => {
    const c = echoClient(port)
    for (let i = 0; i < n; i++) await unary(c, { message: 'x' }, new grpc.Metadata())
    c.close()
  }
  const first = await spawnGateway(cfg, ['triple'])
  t.teardown(() => { first.child.kill('SIGKILL') })
  await calls(first.ports.triple, 20)
  // A SIGKILL loses what had not reached the disk yet (at most flushMs of records): wait for it.
  await until(() => records(join(work, 'audit')).length === 20)
  first.child.kill('SIGKILL')
  await first.exited
  const second = await spawnGateway(cfg, ['triple'])
  t.teardown(() => { second.child.kill('SIGKILL') })
  await calls(second.ports.triple, 20)
  second.child.kill('SIGTERM')
  t.is((await second.exited).code, 0)
  const recs = records(join(work, 'audit'))
  t.is(recs.length, 40)
  t.is(new Set(recs.map(r => r.id.split('.')[0])).size, 1)
  const v = await runCli(['audit', 'verify', join(work, 'audit')])
  t.is(v.code, 0, v.stdout + v.stderr)
  t.regex(v.stdout, /records 1\.\.40 in segments 1\.\.2/)
})
