/**
 * A frame-level HTTP/2 relay (prototype, issue 13 item 3): h2c with prior knowledge in, routes
 * on `:path` prefix to a pool of h2c connections per upstream, forwards frames with stream ids
 * mapped both ways. No node:http2: frames are parsed from the socket bytes (conn.ts).
 *
 * Run: `tsx bench/h2-frame-relay/relay.ts <port> <upstreamPort> [connections]`; prints
 * `ready <port>`.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net'
import { Conn, flushAll, type Limits } from './conn.js'
import { downHandlers, type Router } from './relay-stream.js'
import { UpstreamPool } from './upstream-pool.js'

export interface RelayRoute { prefix: string, host: string, port: number }
export interface RelayOptions {
  port: number
  host?: string
  routes: RelayRoute[]
  connections?: number
  limits?: Partial<Limits>
  connectTimeoutMs?: number
}
export interface Relay {
  readonly server: Server
  readonly port: number
  readonly pools: UpstreamPool[]
  /** The client connections now open (for tests and inspection). */
  clients (): Conn[]
  close (): Promise<void>
}

const kConn = Symbol('conn')
const kState = Symbol('state')
type DownSocket = Socket & { [kConn]: Conn, [kState]: State }
interface State { limits: Limits, router: Router, open: Set<Socket> }
type RelayServer = Server & { [kState]: State }
const DEFAULT_LIMITS: Limits = { streamWindow: 256 * 1024, connWindow: 1 << 20, maxStreams: 1000 }

export async function startRelay (o: RelayOptions): Promise<Relay> {
  const limits = { ...DEFAULT_LIMITS, ...o.limits }
  const pools = o.routes.map(r => new UpstreamPool({ host: r.host, port: r.port, size: o.connections ?? 1, connectTimeoutMs: o.connectTimeoutMs ?? 3000, maxWaiting: 10000, limits }))
  const prefixes = o.routes.map(r => r.prefix)
  // Longest prefix first; the routes are few, a linear scan is cheaper than a trie here.
  const order = prefixes.map((p, i) => i).sort((a, b) => prefixes[b].length - prefixes[a].length)
  const router: Router = (path) => {
    if (path === null) return null
    for (const i of order) if (path.startsWith(prefixes[i])) return pools[i]
    return null
  }
  for (const p of pools) p.warm()
  const open = new Set<Socket>()
  const server = net.createServer({ noDelay: true }, onConnection) as RelayServer
  server[kState] = { limits, router, open }
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host ?? '127.0.0.1', resolve) })
  return {
    server,
    port: (server.address() as AddressInfo).port,
    pools,
    clients: () => [...open].map(s => (s as DownSocket)[kConn]),
    close: () => new Promise<void>((resolve) => {
      for (const p of pools) p.close()
      for (const s of open) s.destroy()
      server.close(() => resolve())
    }),
  }
}

function onConnection (this: RelayServer, socket: Socket): void {
  const s = socket as DownSocket
  s.on('error', noop)
  const st = this[kState]
  s[kState] = st
  s[kConn] = new Conn(s, false, st.limits, downHandlers)
  s[kConn].router = st.router
  st.open.add(s)
  s.on('data', onData)
  s.on('close', onClose)
  flushAll()
}

function onData (this: DownSocket, chunk: Buffer): void { this[kConn].read(chunk); flushAll() }
function onClose (this: DownSocket): void {
  this[kState].open.delete(this)
  const c = this[kConn]
  c.dead = true
  downHandlers.closed(c)
  flushAll()
}
function noop (): void {}

if (process.argv[1]?.endsWith('relay.ts') === true) {
  const relay = await startRelay({ port: Number(process.argv[2] ?? 0), routes: [{ prefix: '/', host: '127.0.0.1', port: Number(process.argv[3]) }], connections: Number(process.argv[4] ?? 1) })
  process.stdout.write(`ready ${relay.port}\n`)
  process.on('SIGTERM', () => { void relay.close().then(() => process.exit(0)) })
}
