import type { Logger } from 'pino'
import type { CompileContext, Filter, FilterFactory } from '../chain/filter-api.js'
import { LocalReply } from '../chain/local-reply.js'
import { resolveFilterFactory, userModuleOf } from '../chain/filter-registry.js'
import { describeThrown, guardFilter, runIn, type UserModule } from '../chain/user-module.js'
import { chainWithPolicies } from './policies.js'
import { withLdcSection } from './ldc.js'
import { chainWithAudit } from './audit.js'
import { CompiledChain } from '../chain/compiled-chain.js'
import { Cluster } from '../cluster/cluster.js'
import type { Host, HostRegistry } from '../cluster/host.js'
import { selectShard } from '../cluster/shard-ring.js'
import { SubsetIndex } from '../cluster/subsets.js'
import { IsthmusError } from '../errors.js'
import { sameItems, spliceOf, type Splice } from '../util/arrays.js'
import { ChunkedMap } from '../util/chunked-map.js'
import { countHostRefs, patchHostRefs, type HostRefs } from './host-refs.js'
import { plainCounter } from '../metrics.js'
import { RouteTable } from '../router/route-table.js'
import type { ClusterOptions, GatewayOptions } from './options.js'
import { compiledFrom, type ClusterDelta, type CompiledFilter, type Snapshot } from './snapshot.js'
import { compileValidator, type Validator } from './validate.js'

export interface CompileDeps {
  readonly hosts: HostRegistry
  readonly logger: Logger
  readonly baseDir: string
  /** This replica's id, for service-list sharding. */
  readonly nodeId: string
}

const validators = new WeakMap<FilterFactory, Validator<unknown>>()

function validatorFor (f: FilterFactory, what: string, path: string): Validator<unknown> {
  let v = validators.get(f)
  if (v === undefined) {
    try {
      v = compileValidator(f.schema)
    } catch (err) {
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}: ${what}: its options schema does not compile: ${describeThrown(err)}`, path)
    }
    validators.set(f, v)
  }
  return v
}

/**
 * What a compile may reuse from the previous revision, part by part (each with its key):
 * - a Cluster, when its options object is the same one (identity);
 * - otherwise its hosts and SubsetIndex, when the host list differs by one small splice
 *   (identity of the HostOptions objects: discovery and the admin store keep unchanged hosts
 *   as the same objects) and neither revision shards it: a one-host delta then costs pointer
 *   copies and one bitmap shift, not O(hosts x labels) (other settings may change freely);
 * - the RouteTable, when the routes are the same objects in the same order;
 * - a compiled filter and its chain entry, when (name, module, validated config, protocols)
 *   is the same (`CompiledFilter.key`); a stateful filter keeps its state;
 * - a CompiledChain, when its entries are the same.
 * Anything else is built as on a first compile, so the result always equals a fresh compile.
 */
export async function compileSnapshot (options: Readonly<GatewayOptions>, revision: number, deps: CompileDeps, previous?: Snapshot): Promise<Snapshot> {
  // Filters and routes first: they are what can reject a config, and a rejected compile
  // should not have interned hosts no snapshot will ever hold.
  const compiled = await compileFilters(options, deps, previous?.compiledFilters ?? [])
  const routes = previous !== undefined && sameItems(previous.options.routes, options.routes)
    ? previous.routes
    : new RouteTable(options.routes, previous?.routes)

  const { clusters, clusterDelta, hostRefs } = buildClusters(options, deps, previous)

  const prevFilters = previous?.compiledFilters ?? []
  const chain = (protocol: 'triple' | 'bolt'): CompiledChain => {
    const mine = compiled.filter(f => f[protocol])
    if (previous !== undefined && sameItems(prevFilters.filter(f => f[protocol]), mine)) return previous.chains[protocol]
    return new CompiledChain(mine.map(f => f.entry))
  }

  return Object.freeze({
    revision,
    options,
    routes,
    clusters,
    clusterDelta,
    hostRefs,
    chains: Object.freeze({ triple: chain('triple'), bolt: chain('bolt') }),
    boltReadsMethod: routes.boltReadsMethod || compiled.some(f => f.bolt && f.readsMethod),
    filters: Object.freeze(compiled.map(f => f.filter)),
    compiledFilters: Object.freeze(compiled),
  })
}

/**
 * The clusters by name. With the previous snapshot, only the clusters in the one splice that
 * turns the previous cluster list into this one (by identity: unchanged options are the same
 * objects) are built or looked at; the map is patched (ChunkedMap), so a push of one app of
 * 2,000 touches that app's clusters only.
 */
function buildClusters (options: Readonly<GatewayOptions>, deps: CompileDeps, previous: Snapshot | undefined): { clusters: ChunkedMap<Cluster>, clusterDelta: ClusterDelta | null, hostRefs: HostRefs } {
  const prevMap = previous?.clusters
  if (previous === undefined || !(prevMap instanceof ChunkedMap) || !(previous.hostRefs instanceof ChunkedMap)) {
    const clusters = ChunkedMap.from(options.clusters.map(c => [c.name, buildCluster(c, deps, prevMap?.get(c.name))] as const))
    return { clusters, clusterDelta: null, hostRefs: countHostRefs(clusters.values()) }
  }
  const a = previous.options.clusters
  const b = options.clusters
  const d = spliceOf(a, b)
  const changes: Array<[string, Cluster | undefined]> = []
  for (let i = d.at; i < d.at + d.removed; i++) changes.push([a[i].name, undefined])
  for (let i = d.at; i < d.at + d.inserted; i++) changes.push([b[i].name, buildCluster(b[i], deps, prevMap.get(b[i].name))])
  const clusters = prevMap.with(changes)
  // Per name the splice touched: the cluster before and after (the very same object when
  // rebuilt from the same options: neither replaced nor added).
  const pairs = new Map<string, readonly [Cluster | undefined, Cluster | undefined]>()
  for (const [name] of changes) pairs.set(name, [prevMap.get(name), clusters.get(name)])
  const replaced: Cluster[] = []
  const added: Cluster[] = []
  for (const [oc, nc] of pairs.values()) {
    if (oc === nc) continue
    if (oc !== undefined) replaced.push(oc)
    if (nc !== undefined) added.push(nc)
  }
  const hostRefs = patchHostRefs(previous.hostRefs, pairs.values())
  return { clusters, clusterDelta: Object.freeze({ from: new WeakRef(previous), replaced: Object.freeze(replaced), added: Object.freeze(added) }), hostRefs }
}

/** A host-list change at most this big is spliced into the previous cluster; a bigger one
 *  (a full push) builds the cluster whole. */
function spliceLimit (hosts: number): number { return Math.max(64, hosts >>> 2) }

/**
 * Build an immutable cluster from options, interning hosts and applying sharding. With the
 * cluster of the previous revision: reuse it when the options object is the same, or splice
 * its hosts and subset index when only a few hosts changed (see compileSnapshot).
 */
export function buildCluster (o: Readonly<ClusterOptions>, deps: Pick<CompileDeps, 'hosts' | 'nodeId'>, prev?: Cluster): Cluster {
  if (prev !== undefined) {
    if (prev.options === o) return prev
    // Sharding picks hosts by a ring over the whole list: build a sharded cluster whole.
    if (o.shard === undefined && prev.options.shard === undefined) {
      const d = spliceOf(prev.options.hosts, o.hosts)
      if (d.removed + d.inserted <= spliceLimit(o.hosts.length)) return splicedCluster(o, deps, prev, d)
    }
  }
  const all: Host[] = o.hosts.map(h => deps.hosts.intern(h))
  const mine = o.shard === undefined ? all : selectShard(all, o.shard.percent, o.shard.key ?? deps.nodeId)
  return new Cluster(o, mine, all.length, undefined, null, null, undefined, deps.hosts.health(o))
}

function splicedCluster (o: Readonly<ClusterOptions>, deps: Pick<CompileDeps, 'hosts'>, prev: Cluster, d: Splice): Cluster {
  // prev is unsharded, so prev.hosts[i] is the interned prev.options.hosts[i].
  if (d.removed === 0 && d.inserted === 0) {
    return new Cluster(o, prev.hosts, prev.hosts.length, prev.subsets, { from: prev.id, removed: [], inserted: [] }, prev.ring, d, deps.hosts.health(o))
  }
  const inserted: Host[] = []
  for (let i = d.at; i < d.at + d.inserted; i++) inserted.push(deps.hosts.intern(o.hosts[i]))
  // Spread, then splice: slice() of a frozen array takes V8's slow path (~80x slower here).
  const hosts = [...prev.hosts]
  const removed = hosts.splice(d.at, d.removed, ...inserted)
  Object.freeze(hosts)
  const subsets = SubsetIndex.spliced(prev.subsets, hosts, d.at, d.removed, d.inserted)
  return new Cluster(o, hosts, hosts.length, subsets, { from: prev.id, removed, inserted }, prev.ring, d, deps.hosts.health(o))
}

/**
 * Hosts of `old` that no cluster of `next` holds (their pools can be retired). Only clusters
 * that changed are looked at, and a spliced cluster offers just the hosts its splice removed.
 */
export function droppedHosts (old: Snapshot, next: Snapshot): Host[] {
  const candidates = new Set<Host>()
  // The clusters `next` replaced: its delta when it was compiled from `old`, else all.
  const delta = compiledFrom(old, next)
  const changed: Iterable<Cluster> = delta ? (next.clusterDelta as ClusterDelta).replaced : old.clusters.values()
  for (const oc of changed) {
    const nc = next.clusters.get(oc.name)
    if (nc === oc) continue
    const removed = nc !== undefined && nc.lineage !== null && nc.lineage.from === oc.id ? nc.lineage.removed : oc.hosts
    for (const h of removed) candidates.add(h)
  }
  if (candidates.size === 0) return []
  let live: (h: Host) => boolean
  if (delta) {
    // Compiled from `old`: its host counts say what is still held, without a scan.
    live = h => (next.hostRefs.get(h.id) ?? 0) > 0
  } else if (candidates.size <= 8) {
    // A few candidates: scanning the host arrays (pointer compares) beats building a set.
    live = h => { for (const c of next.clusters.values()) if (c.hosts.includes(h)) return true; return false }
  } else {
    const all = new Set<Host>()
    for (const c of next.clusters.values()) for (const h of c.hosts) all.add(h)
    live = h => all.has(h)
  }
  const out: Host[] = []
  for (const h of candidates) if (!live(h)) out.push(h)
  return out
}

/** Compile the enabled chain entries, reusing a previous filter whose key is unchanged. */
async function compileFilters (options: Readonly<GatewayOptions>, deps: CompileDeps, previous: readonly CompiledFilter[]): Promise<CompiledFilter[]> {
  const reusable = new Map<string, CompiledFilter[]>()
  for (const f of previous) {
    const l = reusable.get(f.key)
    if (l === undefined) reusable.set(f.key, [f]); else l.push(f)
  }
  const out: CompiledFilter[] = []
  // The top-level `policies` (config file or /v1/policies) feed the `policy` filter.
  const withPolicies = chainWithPolicies(options)
  const policyAt = withPolicies.length > options.filters.length ? withPolicies.findIndex(e => !options.filters.includes(e)) : -1
  // The top-level `audit` section feeds the `audit` filter, appended last when enabled.
  const entries = chainWithAudit(options, withPolicies, deps.nodeId)
  const auditAt = entries.length > withPolicies.length ? entries.length - 1 : -1
  for (let i = 0; i < entries.length; i++) {
    // The top-level `ldc` section configures the `ldc` entry.
    const entry = withLdcSection(entries[i], options.ldc)
    if (entry.enabled === false) continue
    const inserted = i === policyAt || i === auditAt
    const path = i === policyAt ? '/policies' : i === auditAt ? '/audit' : `/filters/${policyAt >= 0 && i > policyAt ? i - 1 : i}`
    const factory = await resolveFilterFactory(entry.name, entry.module, deps.baseDir, path)
    const um = userModuleOf(factory)
    const what = um === undefined ? `filter "${entry.name}"` : `filter "${entry.name}" (${um.file})`
    const cfgPath = inserted ? path : `${path}/config`
    // Validated first (cheap, and it fills defaults), so the key names the effective config.
    const opts = validatorFor(factory, what, `${path}/module`)(entry.config ?? {}, cfgPath)
    const key = JSON.stringify([entry.name, entry.module ?? null, opts, entry.protocols ?? null])
    const hit = reusable.get(key)?.shift()
    if (hit !== undefined) { out.push(hit); continue }
    const reads = { method: false }
    const filter = await buildFilter(factory, um, what, opts, makeContext(options, deps, factory.name, cfgPath, reads), cfgPath)
    const protocols = entry.protocols ?? ['triple', 'bolt']
    out.push(Object.freeze({
      key,
      filter,
      entry: Object.freeze({ name: entry.name, filter, phase: factory.phase ?? 'beforeRoute' as const }),
      triple: protocols.includes('triple'),
      bolt: protocols.includes('bolt'),
      readsMethod: reads.method,
    }))
  }
  return out
}

/**
 * compile + create one chain entry. A built-in's own errors are config errors; a user
 * module's failures of any kind (a throw of anything, a rejected async compile) are config
 * errors naming the entry and the file, and its filter runs in the module's scope
 * (user-module.ts).
 */
async function buildFilter (factory: FilterFactory, um: UserModule | undefined, what: string,
  opts: unknown, ctx: CompileContext, cfgPath: string): Promise<Filter> {
  let compiled: unknown
  try {
    compiled = um === undefined ? factory.compile(opts as never, ctx) : runIn(um, callCompile, factory, opts, ctx)
    // An async compile is waited for (its rejection is the config's error, not the process's).
    if (compiled !== null && typeof (compiled as PromiseLike<unknown>)?.then === 'function') compiled = await compiled
  } catch (err) {
    if (err instanceof IsthmusError) throw err
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${cfgPath}: ${what} rejected its config: ${describeThrown(err)}`, cfgPath)
  }
  let filter: Filter
  try {
    filter = um === undefined ? factory.create(compiled as never) : runIn(um, callCreate, factory, compiled)
  } catch (err) {
    if (err instanceof IsthmusError) throw err
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${cfgPath}: ${what}: create() failed: ${describeThrown(err)}`, cfgPath)
  }
  if (filter === null || typeof filter !== 'object') {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${cfgPath}: ${what}: create() returned ${filter === null ? 'null' : typeof filter}, not a filter object`, cfgPath)
  }
  return um === undefined ? filter : guardFilter(filter, um)
}

function callCompile (f: FilterFactory, opts: unknown, ctx: CompileContext): unknown { return f.compile(opts, ctx) }
function callCreate (f: FilterFactory, compiled: unknown): Filter { return f.create(compiled) }

function makeContext (options: Readonly<GatewayOptions>, deps: CompileDeps, filterName: string, basePath: string, reads: { method: boolean }): CompileContext {
  const metricPrefix = `isthmus_${filterName.replace(/[^a-zA-Z0-9_]/g, '_')}_`
  return {
    entity: options.entity,
    baseDir: deps.baseDir,
    logger: deps.logger.child({ filter: filterName }),
    invalid: (message, path) => new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${basePath}${path}: ${message}`, basePath + path),
    localReply: (code, detail, message) => new LocalReply(code, detail, message),
    ...(options.redis === undefined ? {} : { redis: options.redis }),
    // Plain fields read at scrape time (gateway/metrics.ts PlainCounter), shared by name.
    counter: (name, help, labelNames = []) => plainCounter(`${metricPrefix}${name}_total`, help, labelNames),
    readsMethod: () => { reads.method = true },
  }
}
