import test from 'ava'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { rawRequest, grpcFrame } from '../_peers/raw-h2.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

const asyncTag = fileURLToPath(new URL('../_helpers/filters/async-tag.ts', import.meta.url))

test('chain on the Triple path: async user filter, deny rule, failing filter, all mapped to gRPC status', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], {
    filters: [
      { name: 'deny', config: { rules: [{ name: 'no-bidi', method: 'Bidi', message: 'bidi is not allowed here' }] } },
      { name: 'async', module: asyncTag, config: { delayMs: 5, throwOn: 'ClientStream' } },
    ],
  }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())

  const ok = await unary(client, { message: 'a' })
  t.is(ok.reply.message, 'a')
  t.is(up.seen[0].get('x-async')[0], 'done')

  const md = new grpc.Metadata()
  md.set('x-deny', 'yes')
  const denied = await t.throwsAsync(unary(client, { message: 'b' }, md)) as grpc.ServiceError
  t.is(denied.code, grpc.status.PERMISSION_DENIED)
  t.is(denied.details, 'denied: async says no')

  const bidi = client.bidi()
  const e = await new Promise<grpc.ServiceError>((resolve) => { bidi.on('error', resolve); bidi.on('data', () => {}); bidi.write({ message: 'x' }) })
  t.is(e.code, grpc.status.PERMISSION_DENIED)
  t.is(e.details, 'bidi is not allowed here')

  const r = await rawRequest(gw.addresses.triple!.port, { ':path': '/isthmus.test.Echo/ClientStream', 'content-type': 'application/grpc', te: 'trailers' }, grpcFrame(Buffer.alloc(0)))
  t.is(r.headers['grpc-status'], '13')
  t.is(r.headers['grpc-message'], 'filter async failed')

  t.is((await unary(client, { message: 'still serving' })).reply.message, 'still serving')
  t.is(up.calls, 2)
})
