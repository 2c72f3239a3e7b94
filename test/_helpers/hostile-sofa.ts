/**
 * The sofa-rpc-node upstream of the hostile tests: one RpcServer exporting two interfaces
 * (so a deny rule and a policy rule can each own one), with `big(n)` for large responses.
 * One shared hessian class cache for every connection (PROTOCOLS.md: sofa-rpc-node 2.10
 * otherwise generates code per connection and keeps the CPU busy).
 */
import { createRequire } from 'node:module'
import { sofaClient, sofaConsumer, type SofaClient, type SofaConsumer, type SofaServer } from '../_peers/sofa-rpc.js'

export { sofaClient, sofaConsumer, type SofaClient, type SofaConsumer }

const require = createRequire(import.meta.url)
const sofa = require('sofa-rpc-node') as { server: { RpcServer: new (o: Record<string, unknown>) => SofaServer } }

export const SOFA_SERVICE = 'com.isthmus.test.EchoService'
export const SOFA_SERVICE_B = 'com.isthmus.test.PolicyService'
export const SOFA_VERSION = '1.0'

const sharedClassCache = new Map()
class SharedClassCache { constructor () { return sharedClassCache } }
const quiet = { info () {}, warn () {}, error () {}, debug () {} }

export interface HostileSofa {
  readonly port: number
  /** Requests the upstream handled, by method. */
  readonly hits: Map<string, number>
  close (): Promise<void>
}

export async function startHostileSofa (): Promise<HostileSofa> {
  const hits = new Map<string, number>()
  const hit = (m: string): void => { hits.set(m, (hits.get(m) ?? 0) + 1) }
  const server = new sofa.server.RpcServer({ logger: quiet, port: 0, classCacheClass: SharedClassCache })
  const impl = {
    async plus (a: unknown, b: unknown) { hit('plus'); return (a as number) + (b as number) },
    async echo (x: unknown) { hit('echo'); return x },
    async big (n: unknown) { hit('big'); return 'x'.repeat(n as number) },
    async slow (ms: unknown) { hit('slow'); await new Promise(resolve => setTimeout(resolve, ms as number)); return 'late' },
  }
  // Responses the gateway never took in time are the attack's point, not news.
  ;(server as unknown as { on (e: string, f: () => void): void }).on('error', () => {})
  server.addService({ interfaceName: SOFA_SERVICE, version: SOFA_VERSION }, impl)
  server.addService({ interfaceName: SOFA_SERVICE_B, version: SOFA_VERSION }, impl)
  await server.start()
  return { port: server.publishPort, hits, close: () => server.close() }
}
