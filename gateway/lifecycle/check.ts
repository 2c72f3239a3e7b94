import { isIP } from 'node:net'
import pino from 'pino'
import { HostRegistry } from '../cluster/host.js'
import { compileSnapshot } from '../config/compile.js'
import type { LoadedConfig } from '../config/load.js'
import { IsthmusError } from '../errors.js'

/**
 * `isthmus start --check`: everything that can be known without the files the gateway reads
 * where it runs (TLS material, token files are checked at start): the schema and references
 * (already done by the loader), every filter config compiles, and the admin token rule.
 */
export async function checkConfig (loaded: LoadedConfig): Promise<void> {
  const o = loaded.options
  await compileSnapshot(o, 0, { hosts: new HostRegistry(), logger: pino({ level: 'silent' }), baseDir: loaded.baseDir, nodeId: 'check' })
  const a = o.listeners.admin
  const hasToken = a.token !== undefined || a.tokenFile !== undefined || a.tokenEnv !== undefined
  const hasMtls = a.tls?.requireClientCert === true && (a.adminIdentities?.length ?? 0) > 0
  if (!hasToken && !hasMtls && !isLoopback(a.host)) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${loaded.source}: /listeners/admin: binds ${a.host} (not loopback) with no token and no mTLS`, '/listeners/admin')
  }
}

function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}
