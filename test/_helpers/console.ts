/**
 * The bundled example gateway for the console tests: examples/isthmus.example.yaml run by the
 * compiled CLI with its ports moved to 0 and its Greeter cluster pointed at two real grpc-js
 * Greeter servers this helper starts (one can be killed); plus Chromium via playwright-core.
 */
import type { ExecutionContext } from 'ava'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { parse } from 'yaml'
import { ROOT, spawnGateway, type RunningGateway } from './cli.js'

export const EXAMPLE_TOKEN = 'example-admin-token'
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const NO_CHROMIUM = `chromium not found at ${CHROMIUM}: install it with \`apt-get install chromium\` (or set CHROMIUM_PATH)`

const def = loader.loadSync(join(ROOT, 'examples/proto/greeter.proto'), { keepCase: false, defaults: true })
type GreeterCtor = (new (address: string, creds: grpc.ChannelCredentials) => GreeterClient) & { service: grpc.ServiceDefinition }
export interface GreeterClient extends grpc.Client {
  sayHello (req: { name: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { message: string, servedBy: string }) => void): grpc.ClientUnaryCall
}
const Greeter = (grpc.loadPackageDefinition(def) as unknown as { isthmus: { example: { Greeter: GreeterCtor } } }).isthmus.example.Greeter

export interface GreeterServer { port: number, kill (): void }

export async function startGreeter (t: ExecutionContext, name: string): Promise<GreeterServer> {
  const server = new grpc.Server()
  server.addService(Greeter.service, {
    sayHello: (call: { request: { name: string } }, cb: (err: null, r: object) => void) => { cb(null, { message: `Hello ${call.request.name}`, servedBy: name }) },
    sayHelloStream: (call: { end (): void }) => { call.end() },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => err ? reject(err) : resolve(p)))
  t.teardown(() => { server.forceShutdown() })
  return { port, kill: () => { server.forceShutdown() } }
}

export function greeterClient (t: ExecutionContext, port: number): GreeterClient {
  const c = new Greeter(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  t.teardown(() => c.close())
  return c
}

export function sayHello (c: GreeterClient, name: string, md: Record<string, string> = {}): Promise<string> {
  const meta = new grpc.Metadata()
  for (const [k, v] of Object.entries(md)) meta.set(k, v)
  return new Promise((resolve, reject) => {
    c.sayHello({ name }, meta, { deadline: Date.now() + 20000 }, (err, r) => err !== null ? reject(err) : resolve(r.servedBy))
  })
}

export interface ExampleGateway { gw: RunningGateway, admin: string, triple: number, bolt: number }

const running = new Set<RunningGateway>()
process.once('exit', () => { for (const g of running) g.child.kill('SIGKILL') })

/** The example config on ports 0, Greeter hosts at `greeterPorts`; `tweak` may edit it first. */
export async function startExample (t: ExecutionContext, greeterPorts: [number, number], tweak?: (c: ExampleConfig) => void): Promise<ExampleGateway> {
  const config = parse(readFileSync(join(ROOT, 'examples/isthmus.example.yaml'), 'utf8')) as ExampleConfig
  for (const l of Object.values(config.listeners)) l.port = 0
  const greeter = config.clusters.find(c => c.name === 'greeter')!
  greeter.hosts[0].port = greeterPorts[0]
  greeter.hosts[1].port = greeterPorts[1]
  tweak?.(config)
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-console-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'isthmus.json')
  writeFileSync(file, JSON.stringify(config))
  const gw = await spawnGateway(file, ['triple', 'bolt', 'admin'])
  running.add(gw)
  t.teardown(async () => {
    if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL')
    await gw.exited
    running.delete(gw)
  })
  return { gw, admin: `http://127.0.0.1:${gw.ports.admin}`, triple: gw.ports.triple, bolt: gw.ports.bolt }
}

export interface ExampleConfig {
  listeners: Record<string, { port: number }>
  clusters: Array<{ name: string, hosts: Array<{ address: string, port: number }>, outlier?: Record<string, number> }>
  [k: string]: unknown
}

export function chromiumInstalled (): boolean { return existsSync(CHROMIUM) }

export async function adminCall (base: string, method: string, path: string, body?: unknown): Promise<{ status: number, body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${EXAMPLE_TOKEN}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await r.text()
  return { status: r.status, body: text === '' ? undefined : JSON.parse(text) }
}
