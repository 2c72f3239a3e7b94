/**
 * Reference L4 relay: one upstream connection per downstream connection, bytes piped both
 * ways, nothing parsed. Usage: raw-pipe-relay.ts <upstreamPort>. Prints its port.
 */
import { createServer, connect, type AddressInfo } from 'node:net'

const upstreamPort = Number(process.argv[2])
const server = createServer({ noDelay: true }, (down) => {
  const up = connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true })
  down.pipe(up)
  up.pipe(down)
  const kill = (): void => { down.destroy(); up.destroy() }
  down.on('error', kill); up.on('error', kill)
  down.on('close', kill); up.on('close', kill)
})
server.listen(0, '127.0.0.1', () => { process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`) })
