/**
 * A compiled-CLI gateway with a Bolt listener and a token-protected admin API, for the bridge
 * tests; optionally a Triple listener and an admin listener over TLS that takes client
 * certificates (admin mTLS: `adminIdentities`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { spawnGateway, type RunningGateway } from '../_helpers/cli.js'

export const ADMIN_TOKEN = 'bridge-test-token'

export interface TestGateway {
  gw: RunningGateway
  bolt: number
  /** The Triple listener's port (0 without `triple: true`). */
  triple: number
  admin: number
  dir: string
  tokenFile: string
  /** Stop it (SIGTERM, drain) and wait for the exit. */
  stop (): Promise<void>
  /** Start it again with the same config (same admin port when `adminPort` was fixed). */
  restart (): Promise<void>
}

export interface BridgeGatewayOptions {
  adminPort?: number
  statePath?: boolean
  /** Also listen for Triple (gRPC) calls. */
  triple?: boolean
  /**
   * The admin listener serves TLS with this certificate and requires a client certificate
   * verified by `ca`; `adminIdentities` may use it without the token.
   */
  adminTls?: { cert: string, key: string, ca: string, adminIdentities: string[] }
}

export async function startBridgeGateway (t: ExecutionContext, o: BridgeGatewayOptions = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-bridge-gw-'))
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, ADMIN_TOKEN + '\n')
  const file = join(dir, 'gw.yaml')
  const tls = o.adminTls
  const admin = [`host: 127.0.0.1, port: ${o.adminPort ?? 0}, tokenFile: ${JSON.stringify(tokenFile)}`]
  if (tls !== undefined) {
    admin.push(`tls: { cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}, ca: ${JSON.stringify(tls.ca)}, requireClientCert: true }`)
    admin.push(`adminIdentities: ${JSON.stringify(tls.adminIdentities)}`)
  }
  writeFileSync(file, [
    'entity: test',
    'listeners:',
    '  bolt: { host: 127.0.0.1, port: 0 }',
    ...(o.triple === true ? ['  triple: { host: 127.0.0.1, port: 0 }'] : []),
    `  admin: { ${admin.join(', ')} }`,
    ...(o.statePath === true ? [`state: ${join(dir, 'state.json')}`] : []),
    'drain: { timeoutMs: 1000 }',
    'log: { level: info, access: off }',
  ].join('\n') + '\n')
  const listeners = ['bolt', 'admin', ...(o.triple === true ? ['triple'] : [])]
  let gw = await spawnGateway(file, listeners)
  const h: TestGateway = {
    gw,
    bolt: gw.ports.bolt,
    triple: gw.ports.triple ?? 0,
    admin: gw.ports.admin,
    dir,
    tokenFile,
    async stop () {
      if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGTERM')
      await gw.exited
    },
    async restart () {
      gw = await spawnGateway(file, listeners)
      h.gw = gw
      h.bolt = gw.ports.bolt
      h.triple = gw.ports.triple ?? 0
      h.admin = gw.ports.admin
    },
  }
  t.teardown(async () => { await h.stop(); rmSync(dir, { recursive: true, force: true }) })
  return h
}
