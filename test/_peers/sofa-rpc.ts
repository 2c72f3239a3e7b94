/**
 * sofa-rpc-node peers for tests: an RpcServer on 127.0.0.1 (port 0) exporting a small
 * test service, and a client factory. The server shares one hessian class cache across
 * connections (PROTOCOLS.md) and must be closed in teardown.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
// eslint-disable-next-line @typescript-eslint/no-var-requires
const sofa = require('sofa-rpc-node') as {
  server: { RpcServer: new (o: Record<string, unknown>) => SofaServer }
  client: { RpcClient: new (o: Record<string, unknown>) => SofaClient }
}

export interface SofaServer {
  publishPort: number
  addService (info: { interfaceName: string, version?: string }, impl: Record<string, (...a: unknown[]) => unknown>): void
  start (): Promise<void>
  close (): Promise<void>
}
export interface SofaConsumer {
  ready (): Promise<void>
  invoke (method: string, args: unknown[], opts?: Record<string, unknown>): Promise<unknown>
}
export interface SofaClient {
  createConsumer (o: Record<string, unknown>): SofaConsumer
  close (): Promise<void>
}

export const TEST_SERVICE = 'com.isthmus.test.EchoService'
export const TEST_VERSION = '1.0'

const sharedClassCache = new Map()
class SharedClassCache { constructor () { return sharedClassCache } }

const quiet = { info () {}, warn () {}, error () {}, debug () {} }

export interface SofaPeer { port: number, server: SofaServer, onewayHits: unknown[], close (): Promise<void> }

/**
 * What the server's connections see of heartbeats: sofa-rpc-node's own server connection
 * (decoder, ack encoder) with a tap in front of its heartbeat handler. `answer = false` makes
 * the server swallow heartbeats, as a hung peer would.
 */
export interface HeartbeatTap {
  /** Date.now() of each heartbeat the server decoded. */
  readonly received: number[]
  answer: boolean
  /** Called after each heartbeat is recorded. */
  onHeartbeat?: () => void
}

interface ServerConnection { _handleHeartbeat (hb: unknown): void }
type ServerConnectionClass = new (o: Record<string, unknown>) => ServerConnection

function tappedConnection (tap: HeartbeatTap): ServerConnectionClass {
  const Base = require('sofa-rpc-node/lib/server/connection') as ServerConnectionClass
  return class TappedConnection extends Base {
    override _handleHeartbeat (hb: unknown): void {
      tap.received.push(Date.now())
      if (tap.answer) super._handleHeartbeat(hb)
      tap.onHeartbeat?.()
    }
  }
}

const mapSerializer = require('sofa-bolt-node/lib/simple_map_serializer') as { decode (b: Buffer): Record<string, string | null> | null }

/**
 * A server connection that also records the Bolt header map of every request it receives
 * (sofa-rpc-node's hessian decoder skips the header map, so the handler never sees it): the
 * request bytes are re-read from the socket (Bolt v1 and v2 framing, sofa-bolt-node's map
 * decoder).
 */
function headerTappedConnection (maps: Array<Record<string, string | null>>): ServerConnectionClass {
  const Base = require('sofa-rpc-node/lib/server/connection') as ServerConnectionClass
  return class HeaderTappedConnection extends Base {
    constructor (o: Record<string, unknown>) {
      super(o)
      let buf = Buffer.alloc(0)
      ;(o.socket as import('node:net').Socket).on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk])
        for (;;) {
          const v2 = buf.length > 0 && buf[0] === 2
          const fixed = v2 ? 24 : 22
          if (buf.length < fixed) return
          const cmd = buf.readInt16BE(v2 ? 3 : 2)
          const classLen = buf.readInt16BE(fixed - 8)
          const headerLen = buf.readInt16BE(fixed - 6)
          const contentLen = buf.readInt32BE(fixed - 4)
          const crc = v2 && buf[1] === 2 && (buf[11] & 1) === 1 ? 4 : 0
          const total = fixed + classLen + headerLen + contentLen + crc
          if (buf.length < total) return
          if (cmd === 1 && headerLen > 0) maps.push(mapSerializer.decode(buf.subarray(fixed + classLen, fixed + classLen + headerLen)) ?? {})
          buf = buf.subarray(total)
        }
      })
    }
  }
}

export async function startSofaServer (o: { heartbeats?: HeartbeatTap, headerMaps?: Array<Record<string, string | null>> } = {}): Promise<SofaPeer> {
  const onewayHits: unknown[] = []
  const server = new sofa.server.RpcServer({
    logger: quiet, port: 0, classCacheClass: SharedClassCache,
    ...(o.heartbeats === undefined ? {} : { connectionClass: tappedConnection(o.heartbeats) }),
    ...(o.headerMaps === undefined ? {} : { connectionClass: headerTappedConnection(o.headerMaps) }),
  })
  server.addService({ interfaceName: TEST_SERVICE, version: TEST_VERSION }, {
    async plus (a: unknown, b: unknown) { return (a as number) + (b as number) },
    async echo (x: unknown) { return x },
    async fail (msg: unknown) { throw new Error(String(msg)) },
    async note (x: unknown) { onewayHits.push(x); return null },
    async slow (ms: unknown) { await new Promise(resolve => setTimeout(resolve, ms as number)); return 'late' },
    async blob (n: unknown) { return 'x'.repeat(n as number) },
  })
  await server.start()
  // The server installs signal handlers on start; tests do not want them to linger.
  return { port: server.publishPort, server, onewayHits, close: () => server.close() }
}

export function sofaClient (): SofaClient {
  return new sofa.client.RpcClient({ logger: quiet })
}

export async function sofaConsumer (client: SofaClient, port: number, service = TEST_SERVICE, version = TEST_VERSION): Promise<SofaConsumer> {
  const c = client.createConsumer({ interfaceName: service, version, serverHost: `127.0.0.1:${port}` })
  await c.ready()
  return c
}

/** An RpcServer exporting `interfaceName` (no version unless given) with the given methods. */
export async function startSofaServerFor (interfaceName: string, impl: Record<string, (...a: unknown[]) => unknown>, version?: string): Promise<SofaPeer> {
  const server = new sofa.server.RpcServer({ logger: quiet, port: 0, classCacheClass: SharedClassCache })
  server.addService(version === undefined ? { interfaceName } : { interfaceName, version }, impl)
  await server.start()
  return { port: server.publishPort, server, onewayHits: [], close: () => server.close() }
}
