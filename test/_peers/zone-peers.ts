/**
 * Upstreams that say who they are: a grpc-js server (Triple) and a sofa-rpc-node server (Bolt,
 * protobuf codec, so the SOFA client sends a real header map with the method name and its
 * request props) for the services of ldc.proto. Each reply carries the server's name and the
 * headers the call arrived with. `hold_ms` delays the answer; `release()` ends every held call
 * at once (for concurrency tests).
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'

const require = createRequire(import.meta.url)
export const LDC_PROTO = fileURLToPath(new URL('./ldc.proto', import.meta.url))
export const SERVICES = ['Account', 'Config', 'Rates'] as const
export type LdcService = typeof SERVICES[number]
export const PKG = 'ldc.test'

export interface LdcReply { servedBy: string, headers: Record<string, string>, message: string }

const def = loader.loadSync(LDC_PROTO, { keepCase: false, defaults: true })
const pkg = (grpc.loadPackageDefinition(def) as unknown as { ldc: { test: Record<LdcService, grpc.ServiceClientConstructor> } }).ldc.test

export interface ZonePeer {
  readonly name: string
  readonly port: number
  /** Calls received, by service. */
  readonly calls: Record<string, number>
  /** Calls waiting on hold_ms (or on release). */
  held: number
  /** Answer every held call now. */
  release (): void
  close (): Promise<void>
}

interface Held { timer: NodeJS.Timeout, fire: () => void }

function holder (peer: { held: number }): { hold (ms: number, fire: () => void): void, release (): void } {
  const held = new Set<Held>()
  return {
    hold (ms, fire) {
      if (ms <= 0) { fire(); return }
      const h: Held = { timer: setTimeout(() => { held.delete(h); peer.held--; fire() }, ms), fire }
      held.add(h)
      peer.held++
    },
    release () {
      for (const h of held) { clearTimeout(h.timer); peer.held--; h.fire() }
      held.clear()
    },
  }
}

/** A grpc-js server for Account, Config and Rates answering as `name`. */
export async function startZoneTriple (name: string): Promise<ZonePeer> {
  const server = new grpc.Server()
  const peer = { name, port: 0, calls: {} as Record<string, number>, held: 0, release: () => {}, close: async () => {} }
  const h = holder(peer)
  peer.release = h.release
  for (const svc of SERVICES) {
    server.addService(pkg[svc].service, {
      Call: (call: grpc.ServerUnaryCall<{ message: string, holdMs: number }, LdcReply>, cb: grpc.sendUnaryData<LdcReply>) => {
        peer.calls[svc] = (peer.calls[svc] ?? 0) + 1
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(call.metadata.getMap())) headers[k] = typeof v === 'string' ? v : v.toString('base64')
        h.hold(call.request.holdMs, () => cb(null, { servedBy: name, headers, message: call.request.message }))
      },
    })
  }
  peer.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => err ? reject(err) : resolve(p)))
  peer.close = () => { h.release(); return new Promise<void>(resolve => server.tryShutdown(() => resolve())) }
  return peer
}

export type LdcClient = grpc.Client & { Call (req: { message?: string, holdMs?: number }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: LdcReply) => void): grpc.ClientUnaryCall }

export function ldcClient (port: number, svc: LdcService, options: object = {}): LdcClient {
  return new pkg[svc](`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as LdcClient
}

export function callTriple (client: LdcClient, md: Record<string, string> = {}, req: { message?: string, holdMs?: number } = {}, opts: grpc.CallOptions = {}): Promise<LdcReply> {
  const m = new grpc.Metadata()
  for (const [k, v] of Object.entries(md)) m.set(k, v)
  return new Promise((resolve, reject) => client.Call(req, m, opts, (err, res) => err !== null ? reject(err) : resolve(res)))
}

// ---- Bolt: sofa-rpc-node with the protobuf codec
interface SofaServer { publishPort: number, addService (info: Record<string, unknown>, impl: Record<string, (...a: unknown[]) => unknown>): void, start (): Promise<void>, close (): Promise<void>, createContext: (req: unknown) => unknown }
interface SofaConsumer { ready (): Promise<void>, invoke (method: string, args: unknown[], opts?: Record<string, unknown>): Promise<unknown> }
export interface SofaClient { createConsumer (o: Record<string, unknown>): SofaConsumer, close (): Promise<void> }

const sofa = require('sofa-rpc-node') as { server: { RpcServer: new (o: Record<string, unknown>) => SofaServer }, client: { RpcClient: new (o: Record<string, unknown>) => SofaClient } }
const protobuf = require('protobufjs') as { loadSync (f: string): unknown }
const root = protobuf.loadSync(LDC_PROTO)
const quiet = { info () {}, warn () {}, error () {}, debug () {} }
export const SOFA_VERSION = '1.0'

/** A sofa-rpc-node server (protobuf codec) for the ldc.proto services, answering as `name`. */
export async function startZoneBolt (name: string): Promise<ZonePeer> {
  const server = new sofa.server.RpcServer({ logger: quiet, port: 0, proto: root, codecType: 'protobuf' })
  const peer = { name, port: 0, calls: {} as Record<string, number>, held: 0, release: () => {}, close: async () => {} }
  const h = holder(peer)
  peer.release = h.release
  // The handler's `this` is what createContext returns: keep the request for its header map.
  server.createContext = (req: unknown) => ({ req })
  for (const svc of SERVICES) {
    server.addService({ interfaceName: `${PKG}.${svc}`, version: SOFA_VERSION }, {
      async Call (this: { req: { data: { requestProps: Record<string, unknown> } } }, req: unknown) {
        peer.calls[svc] = (peer.calls[svc] ?? 0) + 1
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(this.req.data.requestProps)) if (typeof v === 'string') headers[k] = v
        for (const [k, v] of Object.entries(this.req.data.requestProps.rpc_trace_context as Record<string, string>)) headers[`rpc_trace_context.${k}`] = v
        const r = req as { message: string, holdMs: number }
        return await new Promise(resolve => h.hold(r.holdMs, () => resolve({ servedBy: name, headers, message: r.message })))
      },
    })
  }
  await server.start()
  peer.port = server.publishPort
  peer.close = () => { h.release(); return server.close() }
  return peer
}

export function sofaClient (): SofaClient {
  return new sofa.client.RpcClient({ logger: quiet, connectionOpts: { protocol: require('sofa-bolt-node'), noDelay: true, connectTimeout: 3000, proto: root } })
}

export async function sofaConsumer (client: SofaClient, port: number, svc: LdcService): Promise<SofaConsumer> {
  const c = client.createConsumer({ proto: root, interfaceName: `${PKG}.${svc}`, version: SOFA_VERSION, serverHost: `127.0.0.1:${port}`, responseTimeout: 10000 })
  await c.ready()
  return c
}

/** One Bolt call; request props become header-map keys (nested objects flattened with dots). */
export async function callBolt (consumer: SofaConsumer, props: Record<string, unknown> = {}, req: { message?: string, holdMs?: number } = {}): Promise<LdcReply> {
  const r = await consumer.invoke('Call', [{ message: req.message ?? '', holdMs: req.holdMs ?? 0 }], { codecType: 'protobuf', requestProps: props })
  return r as LdcReply
}
