import test from 'ava'
import { dubboClient, startDubboServer } from '../_peers/dubbo.js'
import { startTestGateway } from '../_helpers/gateway.js'
import { ERRORS, GrpcStatus } from '../../gateway/errors.js'

async function setup (t: import('ava').ExecutionContext) {
  const v1 = await startDubboServer('v1', '1.0.0', 'g1')
  const v2 = await startDubboServer('v2', '2.0.0', 'g2')
  t.teardown(() => v1.close())
  t.teardown(() => v2.close())
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { port: 0 }, admin: { port: 0 } },
    clusters: [
      { name: 'v1', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: v1.port }] },
      { name: 'v2', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: v2.port }] },
    ],
    routes: [
      { name: 'v2', match: { service: 'isthmus.test.ExampleService', version: '2.0.0', group: 'g2' }, cluster: 'v2' },
      { name: 'v1', match: { service: 'isthmus.test.ExampleService', version: '1.0.0' }, cluster: 'v1' },
    ],
  })
  return gw.addresses.triple!.port
}

for (const httpVersion of ['2', '1.1'] as const) {
  test(`Triple unary over HTTP/${httpVersion}, routed by tri-service-version / tri-service-group`, async (t) => {
    const port = await setup(t)
    const r1 = await dubboClient(port, httpVersion, '1.0.0', 'g1').say({ sentence: 'hi' })
    t.is(r1.sentence, 'v1 says: hi')
    const r2 = await dubboClient(port, httpVersion, '2.0.0', 'g2').say({ sentence: 'yo' })
    t.is(r2.sentence, 'v2 says: yo')
  })
}

test('gRPC mode (no tri-service-* headers) through the gateway to a Dubbo server', async (t) => {
  const plain = await startDubboServer('plain', '', '')
  t.teardown(() => plain.close())
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { port: 0 }, admin: { port: 0 } },
    clusters: [{ name: 'plain', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: plain.port }] }],
    routes: [{ name: 'plain', match: { service: 'isthmus.test.ExampleService' }, cluster: 'plain' }],
  })
  const r = await dubboClient(gw.addresses.triple!.port, '2', '', '', 'grpc').say({ sentence: 'grpc' })
  t.is(r.sentence, 'plain says: grpc')
})

test('a version no route matches gets UNIMPLEMENTED from the gateway', async (t) => {
  const port = await setup(t)
  const err = await t.throwsAsync(dubboClient(port, '2', '9.9.9', 'g9').say({ sentence: 'x' }))
  // dubbo-js's ConnectError: `code` is the gRPC status (12 UNIMPLEMENTED), `rawMessage` the gateway's grpc-message.
  const e = err as unknown as { code: number, rawMessage: string }
  t.is(e.code, GrpcStatus.UNIMPLEMENTED)
  t.true(e.rawMessage.startsWith(ERRORS.ISTH_ERR_ROUTE_NOT_FOUND.message.split('%s')[0]), e.rawMessage)
  // For HTTP/1.1 Triple unary the same outcome is HTTP 404 with the status in the JSON body.
  const err11 = await t.throwsAsync(dubboClient(port, '1.1', '9.9.9', 'g9').say({ sentence: 'x' }))
  t.is((err11 as unknown as { code: number }).code, GrpcStatus.UNIMPLEMENTED)
})
