/**
 * Prints docs/METRICS.md from the Prometheus registry (`npx tsx scripts/metrics-doc.ts >
 * docs/METRICS.md`): every metric the gateway's modules register, plus the counters of the
 * built-in filters (made by compiling a config that uses each). test/docs/metrics-doc.test.ts
 * fails when the two disagree, so a new metric cannot go undocumented.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
// Every module that registers a metric at load time is reachable from the gateway's start.
import '../gateway/lifecycle/start.js'
import '../gateway/lifecycle/primary.js'
import { registerBuiltinFilters } from '../filters/index.js'
import { HostRegistry } from '../gateway/cluster/host.js'
import { compileSnapshot } from '../gateway/config/compile.js'
import { validateOptions } from '../gateway/config/load.js'
import { registry } from '../gateway/metrics.js'

/** prom-client's collectDefaultMetrics (process and Node.js runtime); they vary by platform. */
const DEFAULTS = /^isthmus_(process|nodejs)_/

async function compileBuiltins (): Promise<void> {
  registerBuiltinFilters()
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-metrics-doc-'))
  try {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256', use: 'sig' }] }))
    const options = validateOptions({
      entity: 'acme',
      listeners: { triple: {}, admin: {} },
      filters: [
        { name: 'headers', config: { request: { set: { 'x-a': 'b' } } } },
        { name: 'deny', config: { rules: [{ name: 'r', method: { prefix: 'Internal' } }] } },
        { name: 'auth', config: { jwks: { file: './jwks.json' }, issuer: 'i', audience: 'a', algorithms: ['ES256'] } },
        { name: 'policy' },
        { name: 'mirror', config: { routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 0.1 }] }] } },
      ],
      policies: { default: 'deny-foreign', rules: [] },
    })
    await compileSnapshot(options, 1, { hosts: new HostRegistry(), logger: pino({ level: 'silent' }), baseDir: dir, nodeId: 'doc' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

interface MetricInfo { name: string, type: string, help: string, labelNames?: readonly string[] }

export async function metricsDoc (): Promise<string> {
  await compileBuiltins()
  const all = (registry.getMetricsAsArray() as unknown as MetricInfo[]).slice().sort((a, b) => a.name.localeCompare(b.name))
  let out = `# Isthmus metrics

Served by the admin listener at \`GET /metrics\` (Prometheus text format, no credentials). Label
values come from config names and protocol codes, except \`service\` of
\`isthmus_requests_total\`: the service a caller named (at most 10,000 per listener are kept
apart before the counts are folded and the set starts over). Counters of the
built-in filters are named \`isthmus_<filter>_<name>_total\` and survive config changes; a user
filter's \`ctx.counter()\` makes its own the same way. Besides these, the registry carries
prom-client's default process and Node.js metrics, prefixed \`isthmus_process_\` and
\`isthmus_nodejs_\`.

Generated from the registry by \`npx tsx scripts/metrics-doc.ts > docs/METRICS.md\`; a test
fails when this file and the code disagree.

| name | type | labels | meaning |
|---|---|---|---|
`
  for (const m of all) {
    if (DEFAULTS.test(m.name)) continue
    const labels = (m.labelNames ?? []).map(l => `\`${l}\``).join(', ') || '–'
    out += `| \`${m.name}\` | ${m.type} | ${labels} | ${m.help.replace(/\|/g, '\\|')} |\n`
  }
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(await metricsDoc())
