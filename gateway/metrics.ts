import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client'

/**
 * The process's Prometheus registry and the gateway's own metrics. Metrics outlive config
 * revisions; filters get theirs through CompileContext.counter (created once by name).
 * Every label value comes from config or a bounded set, never from a caller: the `service`
 * label is a service some route names exactly (else `other`, decided by the call path), a
 * status is an integer of the protocol's range (else `other`), and a filter counter keeps at
 * most MAX_FILTER_SERIES label sets (then `other`).
 */
export const registry = new Registry()

/** Default sampling interval of the event-loop delay monitor (config `metrics.eventLoopPrecisionMs`). */
export const DEFAULT_EVENT_LOOP_PRECISION_MS = 200
let processMetrics = false
/**
 * Register prom-client's process and runtime metrics (`isthmus_process_*`, `isthmus_nodejs_*`)
 * once per process; the first caller's precision wins. The event-loop delay monitor wakes the
 * loop once per `precisionMs`: prom-client's default of 10 ms wakes an idle gateway ~100 times
 * a second, so the gateway's default is coarser (a delay longer than one interval is still
 * seen: the sample that waited for it records it).
 */
export function collectProcessMetrics (precisionMs = DEFAULT_EVENT_LOOP_PRECISION_MS): void {
  if (processMetrics) return
  processMetrics = true
  collectDefaultMetrics({ register: registry, prefix: 'isthmus_', eventLoopMonitoringPrecision: precisionMs })
  // Node's delay histogram records the whole interval between samples (its minimum is the
  // precision): report the delay beyond it, as the metric's name says, whatever the precision.
  for (const stat of ['min', 'max', 'mean', 'p50', 'p90', 'p99']) {
    const g = registry.getSingleMetric(`isthmus_nodejs_eventloop_lag_${stat}_seconds`) as Gauge | undefined
    if (g === undefined) continue
    const get = g.get.bind(g)
    g.get = async () => {
      const r = await get()
      // Copies: the values are the gauge's own cells.
      return { ...r, values: r.values.map(v => ({ ...v, value: Math.max(0, v.value - precisionMs / 1000) })) }
    }
  }
}

export const requestsTotal = new Counter({
  name: 'isthmus_requests_total',
  help: 'Calls finished, by listener, service and status (gRPC or Bolt status code)',
  labelNames: ['listener', 'service', 'status'] as const,
  registers: [registry],
  collect () { for (const m of callMetricsByListener.values()) flushFinished(m) },
})

/** Bucket upper bounds (seconds) of the call duration histogram. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

/** One finished-calls counter cell: `n` counts calls, `reported` what prom-client has seen. */
interface FinishedCell { n: number, reported: number }

/** Label value for anything outside the bounded set. */
export const OTHER_LABEL = 'other'
/** Distinct services one listener reports (a backstop: the label is a configured name). */
const MAX_SERVICE_SERIES = 100000
/** Status cell for a status outside the listener's range. */
const OTHER_STATUS = -1

/**
 * Per-listener call metrics as plain numbers: the call path only bumps fields, and prom-client
 * reads them at scrape time (`collect`). Measured with bench/metrics-cost.ts: prom-client's
 * labelled inc + dec + observe + counter child cost ~1.35 µs per call (label hashing, a closure
 * per observe), these fields ~0.02 µs.
 */
export class CallMetrics {
  readonly listener: string
  readonly labels: Readonly<{ listener: string }>
  active = 0
  activeReported = 0
  /** Non-cumulative counts per DURATION_BUCKETS bound; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1)
  count = 0
  sum = 0
  /** Finished calls by service, then status. */
  readonly finished = new Map<string, Map<number, FinishedCell>>()
  /** Largest status the protocol has (gRPC 16; a Bolt status is a byte). An upstream can send
   *  any grpc-status text: anything else is counted as `other`. */
  readonly maxStatus: number

  constructor (listener: string) {
    this.listener = listener
    this.labels = Object.freeze({ listener })
    this.maxStatus = listener === 'bolt' ? 255 : 16
  }

  /** A call ended with `status` after `seconds`. `service` must be a configured name or
   *  OTHER_LABEL (proxy/proxied-call.ts decides). */
  ended (service: string, status: number, seconds: number): void {
    this.active--
    let byStatus = this.finished.get(service)
    if (byStatus === undefined) {
      const label = this.finished.size >= MAX_SERVICE_SERIES ? OTHER_LABEL : service
      byStatus = this.finished.get(label)
      if (byStatus === undefined) { byStatus = new Map(); this.finished.set(label, byStatus) }
    }
    const st = status >= 0 && status <= this.maxStatus && (status | 0) === status ? status : OTHER_STATUS
    const cell = byStatus.get(st)
    if (cell === undefined) byStatus.set(st, { n: 1, reported: 0 })
    else cell.n++
    let b = 0
    const n = DURATION_BUCKETS.length
    while (b < n && seconds > DURATION_BUCKETS[b]) b++
    this.buckets[b]++
    this.count++
    this.sum += seconds
  }
}

const callMetricsByListener = new Map<string, CallMetrics>()
/** The plain metrics of one listener (created once; callers keep the reference). */
export function callMetrics (listener: string): CallMetrics {
  let m = callMetricsByListener.get(listener)
  if (m === undefined) { m = new CallMetrics(listener); callMetricsByListener.set(listener, m) }
  return m
}

/** Report counts not yet seen by prom-client. */
function flushFinished (m: CallMetrics): void {
  for (const [service, byStatus] of m.finished) {
    for (const [status, cell] of byStatus) {
      if (cell.n > cell.reported) {
        requestsTotal.inc({ listener: m.listener, service, status: status === OTHER_STATUS ? OTHER_LABEL : String(status) }, cell.n - cell.reported)
        cell.reported = cell.n
      }
    }
  }
}

/**
 * The call duration histogram, read from the plain buckets at scrape time. prom-client's
 * Histogram has no public way to set its buckets, so this is a metric of its own: an object
 * with `get()` returning prom-client's documented MetricObjectWithValues, registered with the
 * public `registerMetric` (prom-client's AggregatorRegistry registers such `{ get }` objects
 * itself). The text is what a Histogram prints: cumulative `_bucket{le,listener}`, `+Inf`,
 * `_sum`, `_count`.
 */
class DurationHistogram {
  readonly name = 'isthmus_request_duration_seconds'
  readonly help = 'Call duration at the gateway, from decode to the end of the response'
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly labelNames: readonly string[] = Object.freeze(['listener'])

  async get (): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: Array<MetricValueWithName<string>> = []
    const bucket = `${this.name}_bucket`
    for (const m of callMetricsByListener.values()) {
      if (m.count === 0) continue // no call yet: no series
      let acc = 0
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        acc += m.buckets[i]
        values.push({ labels: { le: DURATION_BUCKETS[i], listener: m.listener }, value: acc, metricName: bucket })
      }
      values.push({ labels: { le: '+Inf', listener: m.listener }, value: m.count, metricName: bucket })
      values.push({ labels: { listener: m.listener }, value: m.sum, metricName: `${this.name}_sum` })
      values.push({ labels: { listener: m.listener }, value: m.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, collect: () => {}, values }
  }

  /** Registry.resetMetrics(): the counts are the process's, they are not reset. */
  reset (): void {}
}

export const requestDuration = new DurationHistogram()
registry.registerMetric(requestDuration as unknown as Metric)

export const activeStreams = new Gauge({
  name: 'isthmus_active_calls',
  help: 'Calls in flight, by listener',
  labelNames: ['listener'] as const,
  registers: [registry],
  collect () {
    // Deltas, so direct inc()/dec() by other code still add up.
    for (const m of callMetricsByListener.values()) {
      if (m.count === 0 && m.active === m.activeReported) continue // no call yet: no series
      this.inc(m.labels, m.active - m.activeReported)
      m.activeReported = m.active
    }
  },
})

export const upstreamSessions = new Gauge({
  name: 'isthmus_upstream_sessions',
  help: 'Open upstream sessions (HTTP/2) or connections (Bolt), by protocol',
  labelNames: ['protocol'] as const,
  registers: [registry],
})

export const downstreamConnections = new Gauge({
  name: 'isthmus_downstream_connections',
  help: 'Open downstream connections, by listener',
  labelNames: ['listener'] as const,
  registers: [registry],
})

const sharedCounters = new Map<string, Counter<string>>()

/** A counter shared across revisions (so a reload does not reset it). */
export function sharedCounter (name: string, help: string, labelNames: readonly string[] = []): Counter<string> {
  let c = sharedCounters.get(name)
  if (c === undefined) {
    c = new Counter({ name, help, labelNames: [...labelNames], registers: [registry] })
    sharedCounters.set(name, c)
  }
  return c
}

/** Label sets one filter counter reports; past it every new set counts as `other`. */
export const MAX_FILTER_SERIES = 1000

/** One label set of a filter counter: the call path bumps `n`; the scrape reads it. */
export interface CounterCell { n: number }
interface ReportedCell extends CounterCell { reported: number, readonly labels: Readonly<Record<string, string>> }

/**
 * A filter's counter as plain fields (issue 14: filters called prom-client's labelled `inc`
 * per call, the ~1.35 µs path the gateway avoided for its own metrics). A label set maps to a
 * cell once (a frozen labels object, as filters prebuild them, by identity; any other by its
 * values); the prom-client counter reads the cells in its public `collect` at scrape time.
 * Shared across revisions by name, so a config change does not reset it.
 */
export class PlainCounter {
  readonly name: string
  readonly labelNames: readonly string[]
  readonly #cells = new Map<string, ReportedCell>()
  readonly #byObject = new WeakMap<object, ReportedCell>()
  readonly #unlabelled: ReportedCell = { n: 0, reported: 0, labels: Object.freeze({}) }
  #other: ReportedCell | null = null

  constructor (name: string, help: string, labelNames: readonly string[]) {
    this.name = name
    this.labelNames = Object.freeze([...labelNames])
    const self = this
    // eslint-disable-next-line no-new
    new Counter({ name, help, labelNames: [...labelNames], registers: [registry], collect () { self.#flush(this) } })
  }

  /** The cell of a label set (look it up once, at compile time, and bump `n` per call). */
  cell (labels?: Readonly<Record<string, string>>): CounterCell {
    if (labels === undefined || this.labelNames.length === 0) return this.#unlabelled
    const hit = this.#byObject.get(labels)
    if (hit !== undefined) return hit
    let key = ''
    for (const n of this.labelNames) key += String(labels[n] ?? '') + '\u0000'
    let c = this.#cells.get(key)
    if (c === undefined) {
      if (this.#cells.size >= MAX_FILTER_SERIES) {
        c = this.#other ??= { n: 0, reported: 0, labels: Object.freeze(Object.fromEntries(this.labelNames.map(n => [n, OTHER_LABEL]))) }
      } else {
        const l: Record<string, string> = {}
        for (const n of this.labelNames) if (labels[n] !== undefined) l[n] = String(labels[n])
        c = { n: 0, reported: 0, labels: Object.freeze(l) }
        this.#cells.set(key, c)
      }
    }
    if (Object.isFrozen(labels)) this.#byObject.set(labels, c)
    return c
  }

  inc (labels?: Readonly<Record<string, string>>, value = 1): void {
    if (!(value >= 0) || value === Infinity) throw new TypeError(`counter ${this.name}: cannot add ${value}`)
    this.cell(labels).n += value
  }

  #flush (counter: Counter<string>): void {
    const u = this.#unlabelled
    if (u.n > u.reported) { counter.inc(u.n - u.reported); u.reported = u.n }
    for (const c of this.#cells.values()) if (c.n > c.reported) { counter.inc(c.labels, c.n - c.reported); c.reported = c.n }
    const o = this.#other
    if (o !== null && o.n > o.reported) { counter.inc(o.labels, o.n - o.reported); o.reported = o.n }
  }
}

const plainCounters = new Map<string, PlainCounter>()

/** The filter counter named `name` (created once; the same object across revisions). */
export function plainCounter (name: string, help: string, labelNames: readonly string[] = []): PlainCounter {
  let c = plainCounters.get(name)
  if (c === undefined) { c = new PlainCounter(name, help, labelNames); plainCounters.set(name, c) }
  return c
}

/** Bounds the listeners enforce against hostile or broken clients (README "Limits"). */
export type LimitName =
  | 'first_byte' | 'headers' | 'request' | 'idle' | 'goaway_grace' | 'frame' | 'write_stall'
  | 'connections' | 'connections_per_source' | 'streams' | 'buffered_bytes' | 'rapid_reset' | 'pending'
  | 'events_clients' | 'events_slow' | 'login_failures' | 'content'

/** One bound's trip count: the path that trips it bumps `n`; prom-client reads it at scrape. */
export interface TripCell { n: number, reported: number, readonly labels: Readonly<{ listener: string, limit: LimitName }> }

const tripCells = new Map<string, TripCell>()

/** The trip counter of `limit` on `listener` (created once; keep the reference). */
export function limitTrips (listener: string, limit: LimitName): TripCell {
  const key = listener + '\u0000' + limit
  let c = tripCells.get(key)
  if (c === undefined) {
    c = { n: 0, reported: 0, labels: Object.freeze({ listener, limit }) }
    tripCells.set(key, c)
  }
  return c
}

export const limitTripsTotal = new Counter({
  name: 'isthmus_limit_trips_total',
  help: 'Times a bound on a client tripped (timeouts, connection and stream caps, buffered bytes, rapid reset, undecodable Bolt content), by listener and limit',
  labelNames: ['listener', 'limit'] as const,
  registers: [registry],
  collect () {
    for (const c of tripCells.values()) {
      if (c.n > c.reported) { this.inc(c.labels, c.n - c.reported); c.reported = c.n }
    }
  },
})
