import test from 'ava'
import net from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { spawnGateway } from '../_helpers/cli.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

function refused (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.on('connect', () => { s.destroy(); resolve(false) })
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

test('SIGTERM: in-flight calls complete, new connections are refused, exit 0', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-drain-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'config.yaml')
  writeFileSync(file, JSON.stringify(tripleConfig([up.port], { drain: { timeoutMs: 10000 } })))
  const gw = await spawnGateway(file, ['triple', 'admin'])
  t.teardown(() => { if (gw.child.exitCode === null) gw.child.kill('SIGKILL') })

  const client = echoClient(gw.ports.triple)
  t.teardown(() => client.close())
  await unary(client, { message: 'warm-up' })
  const inflight = Array.from({ length: 5 }, (_, i) => unary(client, { message: `slow-${i}`, delayMs: 1500 }))
  await new Promise(resolve => setTimeout(resolve, 300))
  gw.child.kill('SIGTERM')
  await new Promise(resolve => setTimeout(resolve, 300))
  t.true(await refused(gw.ports.triple), 'new connections are refused while draining')
  const results = await Promise.all(inflight)
  t.deepEqual(results.map(r => r.reply.message), ['slow-0', 'slow-1', 'slow-2', 'slow-3', 'slow-4'])
  const { code } = await gw.exited
  t.is(code, 0)
  t.true(gw.logs.some(l => l.msg === 'drained'))
})

test('POST /v1/drain drains without exiting: /ready turns 503, in-flight calls finish', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], { drain: { timeoutMs: 10000 } }))
  const admin = `http://127.0.0.1:${gw.addresses.admin.port}`
  t.is((await fetch(`${admin}/ready`)).status, 200)
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  await unary(client, { message: 'warm-up' })
  const slow = unary(client, { message: 'slow', delayMs: 800 })
  await new Promise(resolve => setTimeout(resolve, 200))
  const drained = fetch(`${admin}/v1/drain`, { method: 'POST', headers: { authorization: 'Bearer test-token' } })
  await new Promise(resolve => setTimeout(resolve, 100))
  t.is((await fetch(`${admin}/ready`)).status, 503)
  t.is((await slow).reply.message, 'slow')
  t.is((await drained).status, 200)
  t.true(await refused(gw.addresses.triple!.port))
  const late = echoClient(gw.addresses.triple!.port)
  t.teardown(() => late.close())
  const err = await t.throwsAsync(unary(late, { message: 'late' }, new grpc.Metadata(), { deadline: Date.now() + 1000 })) as grpc.ServiceError
  t.true(err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED)
})
