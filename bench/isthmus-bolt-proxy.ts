/**
 * Isthmus Bolt listener alone, for the bench. Usage: isthmus-bolt-proxy.ts <upstreamPort>
 * <empty|example|governance|mirror|audit-file|audit-queue> [auditDir] [redisPort]. Prints its port.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { HostRegistry } from '../gateway/cluster/host.js'
import { compileSnapshot } from '../gateway/config/compile.js'
import { validateOptions } from '../gateway/config/load.js'
import { SnapshotRef } from '../gateway/config/snapshot.js'
import { BoltListener } from '../gateway/listener/bolt-listener.js'
import { BoltPoolRegistry } from '../gateway/upstream/bolt-pool.js'
import { setAccessLogLevel } from '../gateway/proxy/proxied-call.js'
import { registerBuiltinFilters } from '../filters/index.js'
import { governanceFilters } from './lib/governance.js'

registerBuiltinFilters()

const upstreamPort = Number(process.argv[2])
const chain = process.argv[3] ?? 'empty'
const auditDir = process.argv[4] ?? join(mkdtempSync(join(tmpdir(), 'isthmus-bench-audit-')), 'audit')
const redisPort = Number(process.argv[5] ?? 0)
const audit = chain.startsWith('audit-')
const options = validateOptions({
  entity: 'bench', trustDomain: 'bench.local',
  listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: {} },
  clusters: [
    { name: 'up', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: upstreamPort, zone: 'RZ00' }], upstream: { maxConnections: 4, maxConcurrentStreams: 64 } },
    // The mirror target: the same upstream process through its own cluster.
    ...(chain === 'mirror' ? [{ name: 'up-mirror', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: upstreamPort }] }] : []),
  ],
  routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'up', timeoutMs: 5000 }],
  filters: chain === 'example'
    ? [
        { name: 'headers', config: { request: { set: { 'x-isthmus-entity': 'bench' } } } },
        { name: 'deny', config: { rules: [{ name: 'never', service: 'com.example.Forbidden' }] } },
      ]
    : chain === 'mirror'
      ? [{ name: 'mirror', config: { routes: [{ route: 'all', targets: [{ cluster: 'up-mirror', fraction: 0.1 }] }] } }]
      : [],
  ...(chain === 'governance' ? governanceFilters('com.example.EchoService', false) : {}),
  ...(audit ? { audit: { enabled: true, dir: auditDir, queue: chain === 'audit-queue' } } : {}),
  ...(chain === 'audit-queue' ? { redis: { url: `redis://127.0.0.1:${redisPort}`, keyPrefix: 'bench-bolt:' } } : {}),
})
const logger = pino({ level: 'warn' })
setAccessLogLevel('off')
const snap = await compileSnapshot(options, 1, { hosts: new HostRegistry(), logger, baseDir: process.cwd(), nodeId: 'bench' })
const listener = new BoltListener(options.listeners.bolt!, { snapshot: new SnapshotRef(snap), logger, pools: new BoltPoolRegistry({ logger }), tls: null })
const addr = await listener.listen()
process.stdout.write(`PORT ${addr.port}\n`)
process.on('SIGINT', () => process.exit(0)) // lets --cpu-prof write its profile
process.on('SIGTERM', () => process.exit(0)) // the audit trail flushes on exit
