/** acme's app: one gRPC call to acme's egress gateway (127.0.0.1:18080), which crosses to bank. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'

type Greeter = grpc.Client & { sayHello (req: { name: string }, cb: (err: grpc.ServiceError | null, r: { message: string, servedBy: string }) => void): void }
const proto = join(dirname(fileURLToPath(import.meta.url)), '..', 'proto', 'greeter.proto')
const pkg = grpc.loadPackageDefinition(loader.loadSync(proto, { keepCase: false, defaults: true })) as unknown as {
  isthmus: { example: { Greeter: new (addr: string, creds: grpc.ChannelCredentials) => Greeter } }
}
const target = process.argv[2] ?? '127.0.0.1:18080'
const client = new pkg.isthmus.example.Greeter(target, grpc.credentials.createInsecure())
client.sayHello({ name: process.argv[3] ?? 'acme-app' }, (err, r) => {
  if (err !== null) { console.error(`call failed: ${grpc.status[err.code]} (${err.code}): ${err.details}`); process.exitCode = 1 }
  else console.log(`${r.message}  [served by ${r.servedBy}]`)
  client.close()
})
