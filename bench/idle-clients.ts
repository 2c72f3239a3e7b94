/**
 * Idle connections for bench/connections.ts from one process and one source address:
 * `bolt` / `bolt-tls` send one Bolt heartbeat then stay silent; `h2c` sends the HTTP/2 preface
 * and an empty SETTINGS frame, opens no stream. Prints OPEN when all are connected, then waits.
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
function onError (): void { failed++ }
function opened (this: Socket): void {
  this.write(kind === 'h2c' ? PREFACE : HEARTBEAT)
  if (++open === count) process.stdout.write(`OPEN ${open} failed ${failed}\n`)
}
function one (): Socket {
  const s = tlsOptions !== null
    ? tls.connect({ socket: net.connect({ host: '127.0.0.1', port, localAddress: source }), ...tlsOptions }, opened)
    : net.connect({ host: '127.0.0.1', port, localAddress: source }, opened)
  s.on('error', onError)
  s.on('data', () => {})
  return s
}
// A few hundred dials at a time: a burst of thousands overflows the accept backlog.
let started = 0
function more (): void {
  const until = Math.min(count, started + 200)
  for (; started < until; started++) sockets.push(one())
  if (started < count) setTimeout(more, 20)
}
more()
process.on('SIGTERM', () => { for (const s of sockets) s.destroy(); process.exit(0) })
