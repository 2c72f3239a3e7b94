/**
 * Example upstream services for `npm start` without a config: two gRPC Greeter instances and
 * one SOFA Bolt echo service. Uses the dev dependencies (@grpc/grpc-js, sofa-rpc-node).
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

/** Starts the example upstreams; resolves to a function that stops them. */
export async function startExampleUpstreams (ports = { greeter: [50051, 50052], bolt: 12201 }): Promise<() => Promise<void>> {
  const grpc = await import('@grpc/grpc-js')
  const loader = await import('@grpc/proto-loader')
  const protoPath = findProto()
  const def = loader.loadSync(protoPath, { keepCase: false, defaults: true })
  const pkg = grpc.loadPackageDefinition(def) as unknown as { isthmus: { example: { Greeter: { service: import('@grpc/grpc-js').ServiceDefinition } } } }
  const servers: Array<import('@grpc/grpc-js').Server> = []
  for (const port of ports.greeter) {
    const server = new grpc.Server()
    const name = `greeter@${port}`
    server.addService(pkg.isthmus.example.Greeter.service, {
      sayHello: (call: { request: { name: string }, metadata: import('@grpc/grpc-js').Metadata }, cb: (err: null, reply: object) => void) => {
        const entity = call.metadata.get('x-isthmus-entity')[0]
        cb(null, { message: `Hello ${call.request.name}${entity !== undefined ? ` (via gateway of ${String(entity)})` : ''}`, servedBy: name })
      },
      sayHelloStream: (call: { request: { name: string }, write: (m: object) => void, end: () => void }) => {
        for (let i = 1; i <= 3; i++) call.write({ message: `Hello ${call.request.name} #${i}`, servedBy: name })
        call.end()
      },
    })
    await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => err ? reject(err) : resolve()))
    servers.push(server)
  }

  // sofa-rpc-node has no types; the surface used here is small.
  const { RpcServer } = require('sofa-rpc-node').server as { RpcServer: new (o: object) => SofaServer }
  const classMap = new Map<string, unknown>()
  class SharedCache { constructor () { return classMap } }
  const logger = { info () {}, warn () {}, error () {}, debug () {} }
  const bolt = new RpcServer({ appName: 'sofa-echo', port: ports.bolt, logger, classCacheClass: SharedCache })
  bolt.addService({ interfaceName: 'com.example.EchoService' }, {
    async echo (s: string) { return `echo: ${s}` },
  })
  await bolt.start()

  return async () => {
    await Promise.all(servers.map(s => new Promise<void>(resolve => s.tryShutdown(() => resolve()))))
    await bolt.close()
  }
}

interface SofaServer {
  addService (info: object, impl: object): void
  start (): Promise<void>
  close (): Promise<void>
}

function findProto (): string {
  // Sources: examples/upstreams.ts; build: dist/examples/upstreams.js.
  for (const dir of [here, join(here, '..', '..', 'examples')]) {
    const p = join(dir, 'proto', 'greeter.proto')
    try { require('node:fs').accessSync(p); return p } catch {}
  }
  throw new Error('examples/proto/greeter.proto not found')
}
