import test from 'ava'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../../_peers/grpc-echo.js'
import { startTestGateway } from '../../_helpers/gateway.js'
import { makeCall } from '../../_helpers/compile-filter.js'
import { Phase } from '../../../gateway/call/phase.js'

const reroute = fileURLToPath(new URL('../../_helpers/filters/reroute.ts', import.meta.url))

test('Call.reroute at afterRoute sends the call to another cluster of the snapshot; an unknown name changes nothing', async (t) => {
  const a = await startEchoServer('a')
  const b = await startEchoServer('b')
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 't' } },
    clusters: [
      { name: 'ca', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: a.port }] },
      { name: 'cb', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: b.port }] },
    ],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'ca' }],
    filters: [{ name: 'reroute', module: reroute }],
  })
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const md = (to?: string): grpc.Metadata => { const m = new grpc.Metadata(); if (to !== undefined) m.set('x-to', to); return m }

  t.is((await unary(client, { message: 'x' })).reply.servedBy, 'a')
  t.is((await unary(client, { message: 'x' }, md('cb'))).reply.servedBy, 'b')
  t.is(b.seen[0].get('x-rerouted')[0], 'all->cb')
  t.is((await unary(client, { message: 'x' }, md('nope'))).reply.servedBy, 'a')
  t.is(a.seen[1].get('x-rerouted')[0], 'refused')
})

test('Call.reroute after the host is chosen, or without a snapshot, returns false', (t) => {
  const call = makeCall()
  t.false(call.reroute('anything'), 'a bare Call knows no clusters')
  call.phase = Phase.AfterHost
  t.false(call.reroute('anything'))
})
