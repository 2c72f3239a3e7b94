import { isIP } from 'node:net'
import pino from 'pino'
import { HostRegistry } from '../cluster/host.js'
import { compileSnapshot } from '../config/compile.js'
import type { LoadedConfig } from '../config/load.js'
import type { GatewayOptions } from '../config/options.js'
import { IsthmusError } from '../errors.js'

/**
 * `isthmus start --check`: everything that can be known without the files the gateway reads
 * where it runs (TLS material, token files are checked at start): the schema and references
 * (already done by the loader), listener addresses, every filter config compiles, and the
 * admin token rule. Every error names the config file.
 */
export async function checkConfig (loaded: LoadedConfig): Promise<void> {
  const o = loaded.options
  checkListenerAddresses(loaded)
  try {
    await compileSnapshot(o, 0, { hosts: new HostRegistry(), logger: pino({ level: 'silent' }), baseDir: loaded.baseDir, nodeId: 'check' })
  } catch (err) {
    throw inConfigFile(err, loaded.source)
  }
  const a = o.listeners.admin
  const hasToken = a.token !== undefined || a.tokenFile !== undefined || a.tokenEnv !== undefined
  const hasMtls = a.tls?.requireClientCert === true && (a.adminIdentities?.length ?? 0) > 0
  if (!hasToken && !hasMtls && !isLoopback(a.host)) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${loaded.source}: /listeners/admin: binds ${a.host} (not loopback) with no token and no mTLS`, '/listeners/admin')
  }
}

/**
 * Two listeners on one port (same host, or one of them on a wildcard address) can never both
 * bind: refuse it before anything listens. Port 0 picks a free port and never collides.
 */
export function checkListenerAddresses (loaded: Pick<LoadedConfig, 'options' | 'source'>): void {
  const l: GatewayOptions['listeners'] = loaded.options.listeners
  const bound: Array<{ name: string, host: string, port: number }> = []
  for (const name of ['triple', 'bolt', 'admin'] as const) {
    const x = l[name]
    if (x === undefined || x.port === 0) continue
    const other = bound.find(b => b.port === x.port && (b.host === x.host || isWildcard(b.host) || isWildcard(x.host)))
    if (other !== undefined) {
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${loaded.source}: /listeners/${name}/port: ${x.host}:${x.port} is also the ${other.name} listener's address (${other.host}:${other.port}); give each listener its own port`, `/listeners/${name}/port`)
    }
    bound.push({ name, host: x.host, port: x.port })
  }
}

/** The error with the config file named in front of its JSON path (once). */
export function inConfigFile (err: unknown, source: string): unknown {
  if (!(err instanceof IsthmusError) || err.detail.startsWith(`${source}: `)) return err
  return new IsthmusError(err.code, `${source}: ${err.detail}`, err.path, { cause: err })
}

function isWildcard (host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === ''
}

function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}
