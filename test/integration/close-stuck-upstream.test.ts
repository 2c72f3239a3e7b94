/**
 * Closing the gateway while an upstream has stopped reading: node keeps a destroyed HTTP/2
 * session until its socket's writes flush, which a peer that never reads never allows, so a
 * close() that waited for the sessions' 'close' hung for ever (seen as mirror-triple hanging
 * in its teardown). close() must resolve within the drain bound.
 */
import test from 'ava'
import { randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { startGateway } from '../../gateway/lifecycle/start.js'
import { validateOptions } from '../../gateway/config/load.js'
import pino from 'pino'
import { echoClient, unary } from '../_peers/grpc-echo.js'

test('close() resolves while an upstream that never reads holds the gateway\'s unsent bytes', async t => {
  t.timeout(60_000)
  // Accepts, never reads, never answers: the gateway's HEADERS pile up in both socket buffers.
  const held = new Set<Socket>()
  const upstream = createServer((s) => { held.add(s); s.on('error', () => {}); s.on('close', () => held.delete(s)); s.pause() })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => { for (const s of held) s.destroy(); upstream.close() })
  const port = (upstream.address() as { port: number }).port

  const gw = await startGateway(validateOptions({
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 } },
    clusters: [{ name: 'stuck', protocol: 'triple', hosts: [{ address: '127.0.0.1', port }], upstream: { connectTimeoutMs: 60_000 } }],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'stuck', timeoutMs: 300 }],
    drain: { timeoutMs: 500 },
  }), { baseDir: process.cwd(), logger: pino({ level: 'silent' }), nodeId: 'test' })
  let closed = false
  t.teardown(async () => { if (!closed) await gw.close() })

  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  // Distinct header values defeat HPACK's table: each call puts ~6 KiB of HEADERS on the wire.
  const results = await Promise.all(Array.from({ length: 400 }, async () => {
    const md = new grpc.Metadata()
    md.set('x-bulk', randomBytes(3 * 1024).toString('hex'))
    try { await unary(client, { message: 'x' }, md); return 0 } catch (err) { return (err as grpc.ServiceError).code }
  }))
  t.true(results.every(c => c !== 0), 'no call can succeed')
  t.true(held.size > 0, 'the upstream holds the gateway\'s connection')

  await gw.close() // hung for ever before the fix; the test's timeout would trip
  closed = true
  t.pass('close() resolved within the drain bound')
})
