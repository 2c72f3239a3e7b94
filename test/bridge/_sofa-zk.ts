/**
 * sofa-rpc-node providers that register through sofa-rpc-node's own ZooKeeper registry
 * (lib/registry/zk: ephemeral `/sofa-rpc/<interface>/providers/<encoded url>`), published on
 * 127.0.0.1, each counting the calls it served.
 */
import { createRequire } from 'node:module'
import type { ExecutionContext } from 'ava'

const require = createRequire(import.meta.url)
const sofa = require('sofa-rpc-node') as {
  server: { RpcServer: new (o: Record<string, unknown>) => ZkRpcServer }
  registry: { ZookeeperRegistry: new (o: Record<string, unknown>) => ZkRegistry }
  client: { RpcClient: new (o: Record<string, unknown>) => { createConsumer (o: Record<string, unknown>): SofaConsumer, close (): Promise<void> } }
}

interface ZkRegistry { ready (): Promise<void>, close (): Promise<void> }
interface ZkRpcServer {
  publishPort: number
  addService (info: { interfaceName: string, version?: string }, impl: Record<string, (...a: unknown[]) => unknown>): void
  start (): Promise<void>
  publish (): Promise<unknown>
  unPublish (): Promise<unknown>
  close (): Promise<void>
}
export interface SofaConsumer { ready (): Promise<void>, invoke (method: string, args: unknown[], opts?: Record<string, unknown>): Promise<unknown> }

export const quiet = { info () {}, warn () {}, error () {}, debug () {} }
const clusterClient = require('cluster-client') as (cls: unknown, o: Record<string, unknown>) => unknown
/** cluster-client (under sofa-rpc-node's registry) logs to the console unless given a logger. */
const quietCluster = (cls: unknown, o: Record<string, unknown>): unknown => clusterClient(cls, { ...o, logger: quiet })
const sharedClassCache = new Map()
class SharedClassCache { constructor () { return sharedClassCache } }

export interface ZkProvider {
  port: number
  hits: number
  server: ZkRpcServer
  /** Remove its ZooKeeper node (the provider stops being registered). */
  unPublish (): Promise<void>
  close (): Promise<void>
}

export async function startZkProvider (t: ExecutionContext, o: { zk: string, appName: string, services: string[], version?: string, name?: string }): Promise<ZkProvider> {
  const registry = new sofa.registry.ZookeeperRegistry({ logger: quiet, address: o.zk, cluster: quietCluster })
  await registry.ready()
  const server = new sofa.server.RpcServer({ logger: quiet, registry, port: 0, publishAddress: '127.0.0.1', appName: o.appName, classCacheClass: SharedClassCache })
  let closing: Promise<void> | null = null
  const p: ZkProvider = {
    port: 0,
    hits: 0,
    server,
    async unPublish () { await server.unPublish() },
    close () {
      // sofa-rpc-node shares one ZooKeeper client per address in a process: once another
      // provider closed it, unPublish fails, and RpcServer.close would then never close its
      // TCP server. Deregister best-effort, then close the server for sure.
      closing ??= (async () => {
        await server.unPublish().catch(() => {})
        server.unPublish = async () => {}
        await server.close().catch(() => {})
        await registry.close().catch(() => {})
      })()
      return closing
    },
  }
  for (const s of o.services) {
    server.addService({ interfaceName: s, version: o.version ?? '1.0' }, {
      async echo (x: unknown) { p.hits++; return `${o.name ?? 'p'}:${String(x)}` },
    })
  }
  await server.start()
  p.port = server.publishPort
  await server.publish()
  t.teardown(() => p.close())
  return p
}

export function sofaRpcClient (t: ExecutionContext): { consumer (service: string, port: number, version?: string): Promise<SofaConsumer> } {
  const client = new sofa.client.RpcClient({ logger: quiet })
  t.teardown(() => client.close())
  return {
    async consumer (service, port, version = '1.0') {
      // retryFaultInterval: its 30 s retry sleep would hold the test process open after close.
      const c = client.createConsumer({ interfaceName: service, version, serverHost: `127.0.0.1:${port}`, retryFaultInterval: 500 })
      await c.ready()
      return c
    },
  }
}
