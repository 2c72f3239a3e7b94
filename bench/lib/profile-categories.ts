/**
 * Self time of a V8 CPU profile (`node --cpu-prof`) per category of the Bolt hot path. A node's
 * category comes from its source file (and, for Node's own I/O code, its function name); a
 * generic helper (node:buffer, a V8 builtin, node:events) has none of its own and takes its
 * nearest categorised caller's, so `Buffer.concat` in the decoder counts as decode.
 */

export interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}
export interface CpuProfile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

export const CATEGORIES = [
  'decode', 'call', 'routing', 'chain', 'pool', 'listener', 'encode', 'write', 'read',
  'timers', 'metrics', 'logging', 'GC', 'native (program)', 'other',
] as const
export type Category = typeof CATEGORIES[number]

/** What each category holds (printed under the table). */
export const CATEGORY_NOTES: Record<Category, string> = {
  decode: 'gateway/protocol/bolt/{decoder,decode,header-view,command,sofa-method}: framing, header-map reads',
  call: 'gateway/call/*, gateway/proxy/*: Call construction and its lifecycle (BoltCall, ProxiedCall, phases, taps)',
  routing: 'gateway/router/*, gateway/cluster/*: route match, load balancer, outlier accounting',
  chain: 'gateway/chain/*, filters/*: chain runner and filters',
  pool: 'gateway/upstream/*: upstream pool, connection pick, exchange map, upstream response read',
  listener: 'gateway/listener/*: downstream connection, in-flight tracking, guards',
  encode: 'gateway/protocol/bolt/{encoder,crc,mapping}: id/timeout patching, CRC, re-encoding, local replies',
  write: "Node's socket write path (net, stream_base_commons, streams/writable, native writeBuffer/writev)",
  read: "Node's socket read path (onStreamRead, streams/readable) not inside a gateway function",
  timers: 'node:timers, gateway/util/deadline-wheel, setImmediate/nextTick queues',
  metrics: 'gateway/metrics, prom-client, perf_hooks',
  logging: 'pino',
  GC: 'V8 (garbage collector) samples',
  'native (program)': 'V8 (program): native code V8 cannot attribute to a JS frame; libuv\'s own work in the poll phase (epoll, the read syscalls) mostly shows as (idle), which is not in the table',
  other: 'anything else (startup, admin, V8 builtins called from no categorised frame)',
}

const WRITE_FN = /write|Write|flush|Flush|cork|uncork|afterWrite|onWriteComplete|doWrite/

/** The category a frame names by itself, or null when it inherits its caller's. */
export function ownCategory (functionName: string, url: string): Category | null {
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(program)') return 'native (program)'
  if (functionName === '(root)' || functionName === '(idle)') return null
  if (url.includes('/gateway/protocol/bolt/')) return /\/(encoder|crc|mapping)\.js$/.test(url) ? 'encode' : 'decode'
  if (url.includes('/gateway/call/') || url.includes('/gateway/proxy/')) return 'call'
  if (url.includes('/gateway/router/') || url.includes('/gateway/cluster/')) return 'routing'
  if (url.includes('/gateway/chain/') || url.includes('/filters/')) return 'chain'
  if (url.includes('/gateway/upstream/')) return 'pool'
  if (url.includes('/gateway/listener/')) return 'listener'
  if (url.includes('/gateway/util/deadline-wheel')) return 'timers'
  if (url.includes('/gateway/metrics') || url.includes('/prom-client/') || url.startsWith('node:perf_hooks') || url.startsWith('node:internal/perf/')) return 'metrics'
  if (url.includes('/pino') || url.includes('/sonic-boom/')) return 'logging'
  if (url.startsWith('node:internal/timers') || url === 'node:timers' || url === 'node:internal/process/task_queues') return 'timers'
  if (url === 'node:internal/streams/writable') return 'write'
  if (url === 'node:net' || url === 'node:internal/stream_base_commons' || url.startsWith('node:internal/streams/')) return WRITE_FN.test(functionName) ? 'write' : 'read'
  // Native socket writes (no url): writeBuffer, writev, writeUtf8String, writeLatin1String.
  if (url === '' && /^write(Buffer|v|Utf8String|Latin1String|AsciiString|Ucs2String)$/.test(functionName)) return 'write'
  return null
}

export interface BreakdownOf<C extends string> {
  /** Microseconds of self time per category (idle excluded). */
  selfUs: Record<C, number>
  idleUs: number
  busyUs: number
  samples: number
  /** Heaviest functions by self time: "name (file:line)", category, µs. */
  top: Array<{ frame: string, category: C, us: number }>
}
export type Breakdown = BreakdownOf<Category>

/** Self time per Bolt hot-path category of the samples taken between `fromUs` and `toUs` (profile clock). */
export function breakdown (p: CpuProfile, fromUs = -Infinity, toUs = Infinity, topN = 30): Breakdown {
  return breakdownBy(p, ownCategory, CATEGORIES, 'other', fromUs, toUs, topN)
}

/** The same with another categorisation (`own` names a frame's category or null to inherit). */
export function breakdownBy<C extends string> (
  p: CpuProfile, own: (functionName: string, url: string) => C | null, categories: readonly C[], fallback: C,
  fromUs = -Infinity, toUs = Infinity, topN = 30,
): BreakdownOf<C> {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of p.nodes) { byId.set(n.id, n); for (const c of n.children ?? []) parent.set(c, n.id) }
  const resolved = new Map<number, C>()
  const categoryOf = (id: number): C => {
    const hit = resolved.get(id)
    if (hit !== undefined) return hit
    const n = byId.get(id)!
    const mine = own(n.callFrame.functionName, n.callFrame.url)
    const up = parent.get(id)
    const c = mine ?? (up === undefined ? fallback : categoryOf(up))
    resolved.set(id, c)
    return c
  }
  const selfUs = Object.fromEntries(categories.map(c => [c, 0])) as Record<C, number>
  const perNode = new Map<number, number>()
  let idleUs = 0
  let samples = 0
  let t = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]
    if (t < fromUs || t > toUs) continue
    // A sample's weight: the time until the next sample (the last one: the mean interval).
    const dt = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : (p.endTime - p.startTime) / p.samples.length
    const id = p.samples[i]
    samples++
    if (byId.get(id)!.callFrame.functionName === '(idle)') { idleUs += dt; continue }
    selfUs[categoryOf(id)] += dt
    perNode.set(id, (perNode.get(id) ?? 0) + dt)
  }
  const byFrame = new Map<string, { frame: string, category: C, us: number }>()
  for (const [id, us] of perNode) {
    const f = byId.get(id)!.callFrame
    const file = f.url === '' ? '' : ` (${f.url.replace(/^.*\/(gateway|filters|node_modules)\//, '$1/')}:${f.lineNumber + 1})`
    const frame = `${f.functionName === '' ? '(anonymous)' : f.functionName}${file}`
    const e = byFrame.get(frame) ?? { frame, category: categoryOf(id), us: 0 }
    e.us += us
    byFrame.set(frame, e)
  }
  const top = [...byFrame.values()].sort((a, b) => b.us - a.us).slice(0, topN)
  const busyUs = (Object.values(selfUs) as number[]).reduce((a, b) => a + b, 0)
  return { selfUs, idleUs, busyUs, samples, top }
}
