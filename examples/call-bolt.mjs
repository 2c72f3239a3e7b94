// Call the bundled example's SOFA echo service through the gateway's Bolt listener with
// sofa-rpc-node (run `npm start` first).
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const { RpcClient } = require('sofa-rpc-node').client

const port = process.env.ISTHMUS_BOLT_PORT ?? '12200'
const logger = { info () {}, warn () {}, error: console.error, debug () {} }
const client = new RpcClient({ logger, allowMock: false })
const consumer = client.createConsumer({ interfaceName: 'com.example.EchoService', serverHost: `127.0.0.1:${port}` })
await consumer.ready()
try {
  console.log(await consumer.invoke('echo', [process.argv[2] ?? 'hello over Bolt'], { responseTimeout: 3000 }))
} catch (err) {
  console.error(`error: ${err.message}`)
  process.exitCode = 1
}
// sofa-rpc-node keeps timers alive after close(); exit explicitly.
await client.close()
process.exit()
