/** A compiled-CLI gateway with a Bolt listener and a token-protected admin API, for the bridge tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { spawnGateway, type RunningGateway } from '../_helpers/cli.js'

export const ADMIN_TOKEN = 'bridge-test-token'

export interface TestGateway {
  gw: RunningGateway
  bolt: number
  admin: number
  dir: string
  tokenFile: string
  /** Stop it (SIGTERM, drain) and wait for the exit. */
  stop (): Promise<void>
  /** Start it again with the same config (same admin port when `adminPort` was fixed). */
  restart (): Promise<void>
}

export async function startBridgeGateway (t: ExecutionContext, o: { adminPort?: number, statePath?: boolean } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-bridge-gw-'))
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, ADMIN_TOKEN + '\n')
  const file = join(dir, 'gw.yaml')
  writeFileSync(file, [
    'entity: test',
    'listeners:',
    '  bolt: { host: 127.0.0.1, port: 0 }',
    `  admin: { host: 127.0.0.1, port: ${o.adminPort ?? 0}, tokenFile: ${tokenFile} }`,
    ...(o.statePath === true ? [`state: ${join(dir, 'state.json')}`] : []),
    'drain: { timeoutMs: 1000 }',
    'log: { level: info, access: off }',
  ].join('\n') + '\n')
  let gw = await spawnGateway(file, ['bolt', 'admin'])
  const h: TestGateway = {
    gw,
    bolt: gw.ports.bolt,
    admin: gw.ports.admin,
    dir,
    tokenFile,
    async stop () {
      if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGTERM')
      await gw.exited
    },
    async restart () {
      gw = await spawnGateway(file, ['bolt', 'admin'])
      h.gw = gw
      h.bolt = gw.ports.bolt
      h.admin = gw.ports.admin
    },
  }
  t.teardown(async () => { await h.stop(); rmSync(dir, { recursive: true, force: true }) })
  return h
}
