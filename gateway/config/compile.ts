import type { Logger } from 'pino'
import type { CompileContext, Filter, FilterFactory } from '../../filters/api.js'
import { LocalReply } from '../../filters/local-reply.js'
import { resolveFilterFactory } from '../../filters/registry.js'
import { chainWithPolicies } from '../../filters/policy/index.js'
import { CompiledChain, type ChainEntry } from '../chain/compiled-chain.js'
import { Cluster } from '../cluster/cluster.js'
import type { Host, HostRegistry } from '../cluster/host.js'
import { selectShard } from '../cluster/shard-ring.js'
import { IsthmusError } from '../errors.js'
import { sharedCounter } from '../metrics.js'
import type { RequestPhaseName } from '../call/phase.js'
import { RouteTable } from '../router/route-table.js'
import type { ClusterOptions, GatewayOptions } from './options.js'
import type { Snapshot } from './snapshot.js'
import { compileValidator, type Validator } from './validate.js'

export interface CompileDeps {
  readonly hosts: HostRegistry
  readonly logger: Logger
  readonly baseDir: string
  /** This replica's id, for service-list sharding. */
  readonly nodeId: string
}

const validators = new WeakMap<FilterFactory, Validator<unknown>>()

function validatorFor (f: FilterFactory): Validator<unknown> {
  let v = validators.get(f)
  if (v === undefined) { v = compileValidator(f.schema); validators.set(f, v) }
  return v
}

/** Build an immutable cluster from options, interning hosts and applying sharding. */
export function buildCluster (o: Readonly<ClusterOptions>, deps: Pick<CompileDeps, 'hosts' | 'nodeId'>): Cluster {
  const all: Host[] = o.hosts.map(h => deps.hosts.intern(h))
  const mine = o.shard === undefined ? all : selectShard(all, o.shard.percent, o.shard.key ?? deps.nodeId)
  return new Cluster(o, mine, all.length)
}

/**
 * Options -> Snapshot. Throws IsthmusError (with the JSON path) for anything a filter's
 * compile rejects; nothing here runs per call.
 */
export async function compileSnapshot (options: Readonly<GatewayOptions>, revision: number, deps: CompileDeps): Promise<Snapshot> {
  const clusters = new Map<string, Cluster>()
  for (const c of options.clusters) clusters.set(c.name, buildCluster(c, deps))

  const triple: Array<ChainEntry & { phase: RequestPhaseName }> = []
  const bolt: Array<ChainEntry & { phase: RequestPhaseName }> = []
  const filters: Filter[] = []
  // The top-level `policies` (config file or /v1/policies) feed the `policy` filter.
  const entries = chainWithPolicies(options)
  const policyAt = entries.length > options.filters.length ? entries.findIndex(e => !options.filters.includes(e)) : -1
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]
    if (entry.enabled === false) continue
    const path = i === policyAt ? '/policies' : `/filters/${policyAt >= 0 && i > policyAt ? i - 1 : i}`
    const factory = await resolveFilterFactory(entry.name, entry.module, deps.baseDir, path)
    const cfgPath = i === policyAt ? path : `${path}/config`
    const opts = validatorFor(factory)(entry.config ?? {}, cfgPath)
    const ctx = makeContext(options, deps, factory.name, cfgPath)
    let compiled: unknown
    try {
      compiled = factory.compile(opts as never, ctx)
    } catch (err) {
      if (err instanceof IsthmusError) throw err
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${cfgPath}: filter "${entry.name}" rejected its config: ${(err as Error).message}`, cfgPath)
    }
    const filter = factory.create(compiled as never)
    filters.push(filter)
    const e = { name: entry.name, filter, phase: factory.phase ?? 'beforeRoute' as const }
    const protocols = entry.protocols ?? ['triple', 'bolt']
    if (protocols.includes('triple')) triple.push(e)
    if (protocols.includes('bolt')) bolt.push(e)
  }

  return Object.freeze({
    revision,
    options,
    routes: new RouteTable(options.routes),
    clusters,
    chains: Object.freeze({ triple: new CompiledChain(triple), bolt: new CompiledChain(bolt) }),
    filters: Object.freeze(filters),
  })
}

function makeContext (options: Readonly<GatewayOptions>, deps: CompileDeps, filterName: string, basePath: string): CompileContext {
  const metricPrefix = `isthmus_${filterName.replace(/[^a-zA-Z0-9_]/g, '_')}_`
  return {
    entity: options.entity,
    baseDir: deps.baseDir,
    logger: deps.logger.child({ filter: filterName }),
    invalid: (message, path) => new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${basePath}${path}: ${message}`, basePath + path),
    localReply: (code, detail, message) => new LocalReply(code, detail, message),
    counter: (name, help, labelNames = []) => {
      const c = sharedCounter(`${metricPrefix}${name}_total`, help, labelNames)
      return { inc: (labels, value) => { if (labels === undefined) c.inc(value ?? 1); else c.inc(labels, value ?? 1) } }
    },
  }
}
