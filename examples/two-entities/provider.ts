/** bank's provider: a gRPC Greeter on 127.0.0.1:50061 that says who called it. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'

const proto = join(dirname(fileURLToPath(import.meta.url)), '..', 'proto', 'greeter.proto')
const pkg = grpc.loadPackageDefinition(loader.loadSync(proto, { keepCase: false, defaults: true })) as unknown as {
  isthmus: { example: { Greeter: { service: grpc.ServiceDefinition } } }
}
const server = new grpc.Server()
server.addService(pkg.isthmus.example.Greeter.service, {
  sayHello: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    const caller = String(call.metadata.get('x-isthmus-caller')[0] ?? 'unknown')
    cb(null, { message: `Hello ${call.request.name}, from bank. You are ${caller}`, servedBy: 'bank-provider' })
  },
  sayHelloStream: (call: grpc.ServerWritableStream<{ name: string }, unknown>) => { call.end() },
})
server.bindAsync('127.0.0.1:50061', grpc.ServerCredentials.createInsecure(), (err) => {
  if (err !== null) { console.error(`provider: ${err.message}`); process.exit(1) }
  console.error('provider: bank Greeter on 127.0.0.1:50061')
})
process.on('SIGTERM', () => { server.forceShutdown(); process.exit(0) })
process.on('SIGINT', () => { server.forceShutdown(); process.exit(0) })
