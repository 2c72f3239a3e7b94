// Call the bundled example through the gateway with @grpc/grpc-js (run `npm start` first).
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'

const port = process.env.ISTHMUS_TRIPLE_PORT ?? '9090'
const def = loader.loadSync(new URL('./proto/greeter.proto', import.meta.url).pathname)
const { Greeter } = grpc.loadPackageDefinition(def).isthmus.example
const client = new Greeter(`127.0.0.1:${port}`, grpc.credentials.createInsecure())

const md = new grpc.Metadata()
if (process.argv.includes('--canary')) md.set('x-canary', 'true')
client.sayHello({ name: process.argv[2] ?? 'newcomer' }, md, (err, reply) => {
  if (err) { console.error(`error: ${grpc.status[err.code]} (${err.code}): ${err.details}`); process.exitCode = 1 } else console.log(reply)
  client.close()
})
