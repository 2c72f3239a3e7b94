/** Start a real gateway in-process for a test, from a YAML string or an options object. */
import type { ExecutionContext } from 'ava'
import pino from 'pino'
import { parseConfig, validateOptions } from '../../gateway/config/load.js'
import type { GatewayOptions } from '../../gateway/config/options.js'
import { startGateway, type Gateway } from '../../gateway/lifecycle/start.js'

export async function startTestGateway (t: ExecutionContext, config: string | Record<string, unknown>, baseDir = process.cwd()): Promise<Gateway> {
  const options: GatewayOptions = typeof config === 'string' ? parseConfig(config, 'test') : validateOptions(structuredClone(config))
  const logger = pino({ level: process.env.ISTHMUS_TEST_LOG ?? 'silent' })
  const gw = await startGateway(options, { baseDir, logger, nodeId: 'test' })
  t.teardown(() => gw.close())
  return gw
}

/** Minimal config with one Triple cluster and a catch-all route to it. */
export function tripleConfig (ports: number[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'test-token' } },
    clusters: [{ name: 'echo', protocol: 'triple', hosts: ports.map(port => ({ address: '127.0.0.1', port })) }],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'echo' }],
    drain: { timeoutMs: 2000 },
    ...extra,
  }
}
