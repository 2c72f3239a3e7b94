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
})

export const requestDuration = new Histogram({
  name: 'isthmus_request_duration_seconds',
  help: 'Call duration at the gateway, from decode to the end of the response',
  labelNames: ['listener'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
})

export const activeStreams = new Gauge({
  name: 'isthmus_active_calls',
  help: 'Calls in flight, by listener',
  labelNames: ['listener'] as const,
  registers: [registry],
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
