import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The process's Prometheus registry and the gateway's own metrics. Metrics outlive config
 * revisions; filters get theirs through CompileContext.counter (created once by name).
 */
export const registry = new Registry()
collectDefaultMetrics({ register: registry, prefix: 'isthmus_' })

export const requestsTotal = new Counter({
  name: 'isthmus_requests_total',
  help: 'Calls finished, by listener, service and status (gRPC or Bolt status code)',
  labelNames: ['listener', 'service', 'status'] as const,
  registers: [registry],
  collect () { for (const m of callMetricsByListener.values()) flushFinished(m, false) },
})

/** Bucket upper bounds (seconds) of the call duration histogram. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

/** One finished-calls counter cell: `n` counts calls, `reported` what prom-client has seen. */
interface FinishedCell { n: number, reported: number }

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

  constructor (listener: string) {
    this.listener = listener
    this.labels = Object.freeze({ listener })
  }

  /** A call ended with `status` after `seconds`. */
  ended (service: string, status: number, seconds: number): void {
    this.active--
    let byStatus = this.finished.get(service)
    if (byStatus === undefined) {
      // Bounded like the old label cache: services come from callers.
      if (this.finished.size > 10000) flushFinished(this, true)
      byStatus = new Map()
      this.finished.set(service, byStatus)
    }
    const cell = byStatus.get(status)
    if (cell === undefined) byStatus.set(status, { n: 1, reported: 0 })
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

/** Report counts not yet seen by prom-client; with `drop`, forget the cells afterwards. */
function flushFinished (m: CallMetrics, drop: boolean): void {
  for (const [service, byStatus] of m.finished) {
    for (const [status, cell] of byStatus) {
      if (cell.n > cell.reported) {
        requestsTotal.inc({ listener: m.listener, service, status: String(status) }, cell.n - cell.reported)
        cell.reported = cell.n
      }
    }
  }
  if (drop) m.finished.clear()
}

/** prom-client's histogram entry as its `hashMap` keeps it (prom-client 15). */
interface HistogramEntry { labels: Record<string, string>, bucketValues: Record<number, number>, sum: number, count: number }

export const requestDuration = new Histogram({
  name: 'isthmus_request_duration_seconds',
  help: 'Call duration at the gateway, from decode to the end of the response',
  labelNames: ['listener'] as const,
  buckets: [...DURATION_BUCKETS],
  registers: [registry],
  collect () {
    // Copy the plain buckets into the entry prom-client formats (it has no public bulk setter;
    // test/integration/metrics.test.ts checks the output).
    const map = (this as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap
    for (const m of callMetricsByListener.values()) {
      if (m.count === 0) continue
      this.zero(m.labels)
      for (const e of Object.values(map)) {
        if (e.labels.listener !== m.listener) continue
        for (let i = 0; i < DURATION_BUCKETS.length; i++) e.bucketValues[DURATION_BUCKETS[i]] = m.buckets[i]
        e.sum = m.sum
        e.count = m.count
      }
    }
  },
})

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

const filterCounters = new Map<string, Counter<string>>()

/** A counter shared across revisions (so a reload does not reset it). */
export function sharedCounter (name: string, help: string, labelNames: readonly string[] = []): Counter<string> {
  let c = filterCounters.get(name)
  if (c === undefined) {
    c = new Counter({ name, help, labelNames: [...labelNames], registers: [registry] })
    filterCounters.set(name, c)
  }
  return c
}

/** Bounds the listeners enforce against hostile or broken clients (README "Limits"). */
export type LimitName =
  | 'first_byte' | 'headers' | 'request' | 'idle' | 'goaway_grace' | 'frame' | 'write_stall'
  | 'connections' | 'connections_per_source' | 'streams' | 'buffered_bytes' | 'rapid_reset' | 'pending'

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
  help: 'Times a bound on a client tripped (timeouts, connection and stream caps, buffered bytes, rapid reset), by listener and limit',
  labelNames: ['listener', 'limit'] as const,
  registers: [registry],
  collect () {
    for (const c of tripCells.values()) {
      if (c.n > c.reported) { this.inc(c.labels, c.n - c.reported); c.reported = c.n }
    }
  },
})
