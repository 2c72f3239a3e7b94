/**
 * The real gateway process for the Bolt benches: the compiled CLI (`dist/bin/isthmus.js start
 * -c <file>`, `npm run build` first) with a generated config that is the default apart from the
 * listeners, one Bolt cluster and one route, and, for the chain targets, their filters.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { governanceFilters } from './governance.js'
import { freePort, startChild, waitForPort, type Child } from './proc.js'

export type BoltChain = 'default' | 'example' | 'governance' | 'mirror' | 'audit-file' | 'audit-queue'

export interface BoltGateway { child: Child, port: number, config: string }

/** Writes the config for `chain` under `dir`; returns its path. */
export function boltGatewayConfig (dir: string, boltPort: number, upstreamPort: number, chain: BoltChain, redisPort = 0): string {
  const cfg: Record<string, unknown> = {
    entity: 'bench',
    listeners: { bolt: { host: '127.0.0.1', port: boltPort }, admin: { host: '127.0.0.1', port: 0, token: 'bench-admin-token' } },
    clusters: [
      { name: 'up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: upstreamPort, zone: 'RZ00' }] },
      // The mirror target: the same upstream process through its own cluster (its own pool).
      ...(chain === 'mirror' ? [{ name: 'up-mirror', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: upstreamPort }] }] : []),
    ],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'up' }],
  }
  if (chain === 'example') {
    cfg.filters = [
      { name: 'headers', config: { request: { set: { 'x-isthmus-entity': 'bench' } } } },
      { name: 'deny', config: { rules: [{ name: 'never', service: 'com.example.Forbidden' }] } },
    ]
  }
  if (chain === 'mirror') cfg.filters = [{ name: 'mirror', config: { routes: [{ route: 'all', targets: [{ cluster: 'up-mirror', fraction: 0.1 }] }] } }]
  if (chain === 'governance') Object.assign(cfg, governanceFilters('com.example.EchoService', false))
  if (chain === 'audit-file' || chain === 'audit-queue') cfg.audit = { enabled: true, dir: join(dir, `audit-${boltPort}`), queue: chain === 'audit-queue' }
  if (chain === 'audit-queue') cfg.redis = { url: `redis://127.0.0.1:${redisPort}`, keyPrefix: `bench-bolt-${boltPort}:` }
  const file = join(dir, `isthmus-bolt-${chain}-${boltPort}.yaml`)
  writeFileSync(file, YAML.stringify(cfg))
  return file
}

/** Starts the compiled gateway on a free port; resolves once its Bolt listener accepts. */
/** `opts.cli`: another build's bin/isthmus.js (a before/after comparison in one run). */
export async function startBoltGateway (root: string, dir: string, upstreamPort: number, chain: BoltChain, opts: { redisPort?: number, nodeFlags?: string[], cli?: string } = {}): Promise<BoltGateway> {
  const port = await freePort()
  const config = boltGatewayConfig(dir, port, upstreamPort, chain, opts.redisPort)
  const child = startChild(`isthmus-${chain}`, process.execPath, [...(opts.nodeFlags ?? []), opts.cli ?? join(root, 'dist', 'bin', 'isthmus.js'), 'start', '-c', config], dir)
  await waitForPort(child, port, 60000)
  return { child, port, config }
}
