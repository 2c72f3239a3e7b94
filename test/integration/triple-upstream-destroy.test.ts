/**
 * An upstream that destroys its HTTP/2 session with calls in flight (a crash, a kill, a
 * proxy dropping the connection): every call on it ends at once with UNAVAILABLE
 * (ISTH_ERR_UPSTREAM_RESET), none waits for the route timeout, and the next calls are served
 * by a fresh session.
 */
import test from 'ava'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer, type Http2Session, type ServerHttp2Stream } from 'node:http2'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { echoClient, unary } from '../_peers/grpc-echo.js'
import { spawnGateway } from '../_helpers/cli.js'
import { tempDir } from '../filters/audit/_trail.js'

function noop (): void {}

test('an upstream destroying its session mid-call: all 8 calls in flight fail with UNAVAILABLE before the route timeout; the next call is served', async t => {
  t.timeout(120_000)
  await body(t)
})

async function body (t: import('ava').ExecutionContext): Promise<void> {
  let destroyAfter = 8
  const held: ServerHttp2Stream[] = []
  const sessions = new Set<Http2Session>()
  const upstream = createServer()
  upstream.on('session', (s: Http2Session) => { sessions.add(s); s.on('error', noop); s.on('close', () => sessions.delete(s)) })
  upstream.on('stream', (stream: ServerHttp2Stream) => {
    stream.on('error', noop)
    if (destroyAfter > 0) {
      held.push(stream)
      if (--destroyAfter === 0) for (const s of held) s.session?.destroy()
      return
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    // An empty EchoReply message.
    stream.end(Buffer.from([0, 0, 0, 0, 0]))
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  t.teardown(() => { for (const s of sessions) s.destroy(); upstream.close() })
  const port = (upstream.address() as { port: number }).port

  const dir = tempDir(t, 'isthmus-up-destroy-')
  const config = join(dir, 'gateway.yaml')
  writeFileSync(config, `
entity: bank
listeners:
  triple: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
clusters:
  - { name: up, protocol: triple, hosts: [ { address: 127.0.0.1, port: ${port} } ] }
routes:
  - { name: up, match: { service: isthmus.test.Echo }, cluster: up, timeoutMs: 600000 }
log: { level: info, access: off }
`)
  const gw = await spawnGateway(config, ['triple', 'admin'])
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const client = echoClient(gw.ports.triple)
  t.teardown(() => client.close())
  const results = await Promise.all(Array.from({ length: 8 }, async () => {
    try { await unary(client, { message: 'x' }); return 'ok' } catch (err) { return `${(err as grpc.ServiceError).code} ${(err as Error).message}` }
  }))
  t.is(results.length, 8)
  for (const r of results) t.regex(r, /^14 .*connection lost before the response/, r)
  const after = await unary(client, { message: 'y' }).then(r => r.reply.message, (err: Error) => `error: ${err.message}`)
  t.is(after, '')
}
