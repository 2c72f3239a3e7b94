/**
 * A well-framed Bolt request whose hessian2 content is undecodable is answered by the gateway
 * (SERVER_DESERIAL_EXCEPTION) and never reaches the sofa-rpc-node upstream, whose decoder
 * would close the shared connection and fail the healthy client's calls in flight on it.
 */
import { createRequire } from 'node:module'
import { connect, type Socket } from 'node:net'
import test from 'ava'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { boltRequest, boltV1Responses } from '../_helpers/hostile-bolt.js'
import { sofaLoop } from '../_helpers/hostile-healthy.js'
import { limitTrips } from '../../gateway/metrics.js'

const require = createRequire(import.meta.url)
const sofa = require('sofa-rpc-node') as { server: { RpcServer: new (o: Record<string, unknown>) => UpServer } }
interface UpServer { publishPort: number, start (): Promise<void>, close (): Promise<void>, addService (s: Record<string, unknown>, impl: Record<string, unknown>): void, on (e: string, f: (c: { once (e: string, f: () => void): void }) => void): void }
const quiet = { info () {}, warn () {}, error () {}, debug () {} }
const SERVICE = 'com.isthmus.test.EchoService'

async function upstream (): Promise<{ server: UpServer, opened: () => number, closed: () => number }> {
  const server = new sofa.server.RpcServer({ logger: quiet, port: 0 })
  let opened = 0
  let closed = 0
  server.on('connection', c => { opened++; c.once('close', () => { closed++ }) })
  ;(server as unknown as { on (e: string, f: () => void): void }).on('error', () => {})
  server.addService({ interfaceName: SERVICE, version: '1.0' }, { async echo (x: unknown) { return x } })
  await server.start()
  return { server, opened: () => opened, closed: () => closed }
}

for (const check of [true, false]) {
  test.serial(`checkContent ${String(check)}: a request with corrupt hessian2 content ${check ? 'gets SERVER_DESERIAL_EXCEPTION; the healthy client sees no error, the upstream connection stays' : 'reaches the upstream, which closes the shared connection'}`, async t => {
    const up = await upstream(); t.teardown(() => up.server.close())
    const gw = await startBoltGateway({ upstreamPort: up.server.publishPort, bolt: { checkContent: check } }); t.teardown(() => gw.close())
    const loop = (await sofaLoop(gw.port)).start(4)
    t.teardown(() => loop.stop())
    while (loop.calls < 20) await new Promise(resolve => setTimeout(resolve, 10))
    const trips = limitTrips('bolt', 'content')
    const before = trips.n
    const sock: Socket = connect(gw.port, '127.0.0.1')
    t.teardown(() => sock.destroy())
    let got = Buffer.alloc(0)
    sock.on('data', (d: Buffer) => { got = Buffer.concat([got, d]) })
    const ids = [101, 102, 103]
    for (const id of ids) {
      const f = boltRequest({ id, service: `${SERVICE}:1.0`, method: 'echo', args: ['x'] })
      f[f.length - 3] = 0xff // an unknown hessian tag inside the argument
      sock.write(f)
    }
    const good = boltRequest({ id: 104, service: `${SERVICE}:1.0`, method: 'echo', args: ['ok'] })
    if (check) {
      sock.write(good)
      while (boltV1Responses(got).length < 4) await new Promise(resolve => setTimeout(resolve, 10))
      const rs = boltV1Responses(got)
      for (const id of ids) t.is(rs.find(r => r.requestId === id)?.status, 0x12)
      t.is(rs.find(r => r.requestId === 104)?.status, 0, 'the same connection still forwards a good request')
      t.is(trips.n - before, 3)
      t.is(gw.logs.filter(l => String(l.msg).startsWith('bolt request content cannot be decoded')).length, 1, 'one log line for the connection, not one per request')
      const mark = loop.calls
      while (loop.calls < mark + 20) await new Promise(resolve => setTimeout(resolve, 10))
      t.is(loop.errors, 0, loop.samples.join(' | '))
      t.is(up.closed(), 0, 'the upstream closed no connection')
    } else {
      while (up.closed() === 0) await new Promise(resolve => setTimeout(resolve, 10))
      t.pass()
    }
    await loop.stop()
  })
}
