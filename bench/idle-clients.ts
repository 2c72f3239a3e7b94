/**
 * Idle connections for bench/connections.ts from one process and one source address:
 * `bolt` / `bolt-tls` send one Bolt heartbeat then stay silent; `h2c` sends the HTTP/2 preface
 * and an empty SETTINGS frame, opens no stream. Prints `OPEN <n> failed <m>` when every dial has
 * connected or failed, then waits.
 * Usage: tsx bench/idle-clients.ts <kind> <port> <count> <sourceAddress> [cert key ca]
 */
import { readFileSync } from 'node:fs'
import net, { type Socket } from 'node:net'
import tls from 'node:tls'
import { encodeHeartbeat } from '../gateway/protocol/bolt/encoder.js'

const [kind, portText, countText, source, cert, key, ca] = process.argv.slice(2)
const port = Number(portText)
const count = Number(countText)
const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])
const HEARTBEAT = encodeHeartbeat(1)
const tlsOptions = kind === 'bolt-tls' ? { cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca), servername: 'localhost' } : null
const sockets: Socket[] = []
let open = 0
let failed = 0
const dialing = new WeakSet<Socket>()
function settled (): void {
  if (open + failed === count) process.stdout.write(`OPEN ${open} failed ${failed}\n`)
  else more()
}
function onError (this: Socket): void {
  if (!dialing.has(this)) return
  dialing.delete(this)
  failed++
  settled()
}
function opened (this: Socket): void {
  dialing.delete(this)
  this.write(kind === 'h2c' ? PREFACE : HEARTBEAT)
  open++
  settled()
}
function one (): Socket {
  const s = tlsOptions !== null
    ? tls.connect({ socket: net.connect({ host: '127.0.0.1', port, localAddress: source }), ...tlsOptions }, opened)
    : net.connect({ host: '127.0.0.1', port, localAddress: source }, opened)
  dialing.add(s)
  s.on('error', onError)
  s.on('data', () => {})
  return s
}
// At most WINDOW dials (TCP connect + TLS handshake) in flight: a burst of thousands overflows
// the accept backlog, and the dropped SYNs or handshakes then stall on retransmit timers.
const WINDOW = 64
let started = 0
function more (): void {
  while (started < count && started - open - failed < WINDOW) { started++; sockets.push(one()) }
}
more()
process.on('SIGTERM', () => { for (const s of sockets) s.destroy(); process.exit(0) })
