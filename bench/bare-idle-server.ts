/**
 * The bare Node reference for bench/connections.ts: the same kind of server with nothing on
 * top. `bolt`: a net server that answers a heartbeat; `bolt-tls`: the same over tls with client
 * certificates required; `h2c`: an http2 server (sessions only). SIGUSR2 prints `HEAP <bytes>`
 * after a gc (run with --expose-gc); with ISTHMUS_BENCH_SNAPSHOT=1, a heap snapshot too.
 * Usage: tsx bench/bare-idle-server.ts <kind> <port> [cert key ca]
 */
import { readFileSync } from 'node:fs'
import http2 from 'node:http2'
import net, { type Socket } from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import { writeHeapSnapshot } from 'node:v8'

const [kind, portText, cert, key, ca] = process.argv.slice(2)
const port = Number(portText)
function onError (this: Socket): void { this.destroy() }
function onData (this: Socket, d: Buffer): void { if (d.length >= 14) this.write(d.subarray(0, 14)) }
function onSocket (s: Socket): void { s.on('error', onError); s.on('data', onData) }
let server: net.Server
if (kind === 'h2c') {
  const h = http2.createServer()
  h.on('session', (s) => { s.on('error', () => {}) })
  server = h as unknown as net.Server
} else if (kind === 'bolt-tls') {
  server = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca), requestCert: true, rejectUnauthorized: true }, onSocket)
  server.on('tlsClientError', () => {})
} else {
  server = net.createServer(onSocket)
}
server.listen(port, '0.0.0.0')
let snaps = 0
process.on('SIGUSR2', () => {
  const g = (globalThis as { gc?: () => void }).gc
  g?.()
  // bench/connections.ts SNAPSHOT=1: a heap snapshot beside the figure (what a connection retains).
  if (process.env.ISTHMUS_BENCH_SNAPSHOT === '1') writeHeapSnapshot(join(process.env.ISTHMUS_BENCH_HEAP_DIR ?? '.', `snap-${process.pid}-${snaps++}.heapsnapshot`))
  process.stdout.write(`HEAP ${process.memoryUsage().heapUsed}\n`)
})
process.on('SIGTERM', () => process.exit(0))
