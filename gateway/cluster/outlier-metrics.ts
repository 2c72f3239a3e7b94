import { performance } from 'node:perf_hooks'
import { Counter, Gauge } from 'prom-client'
import { registry } from '../metrics.js'
import { BREAKERS, EJECT_REASONS, type ClusterHealth } from './outlier.js'

/**
 * Outlier, circuit-breaker and retry metrics, by cluster: the call path bumps plain fields of
 * ClusterHealth; these read them at scrape time. A ClusterHealth is kept per cluster name for the
 * process's life (counters never go back), so a removed cluster's series stay.
 */
const tracked = new Map<string, Set<ClusterHealth>>()
/** Counts already reported per (metric, cluster, label). */
const reported = new Map<string, number>()

export function trackHealth (h: ClusterHealth): void {
  let s = tracked.get(h.name)
  if (s === undefined) { s = new Set(); tracked.set(h.name, s) }
  s.add(h)
}

function report (c: Counter<string>, key: string, labels: Record<string, string>, total: number): void {
  const seen = reported.get(key) ?? 0
  if (total > seen) { c.inc(labels, total - seen); reported.set(key, total) }
}

function sum (name: string, read: (h: ClusterHealth) => number): number {
  let n = 0
  for (const h of tracked.get(name) ?? []) n += read(h)
  return n
}

export const ejectionsTotal = new Counter({
  name: 'isthmus_outlier_ejections_total',
  help: 'Hosts ejected by outlier detection, by cluster and reason (connect, reset, status, success_rate)',
  labelNames: ['cluster', 'reason'] as const,
  registers: [registry],
  collect () {
    for (const name of tracked.keys()) {
      EJECT_REASONS.forEach((reason, i) => report(this, `e\0${name}\0${reason}`, { cluster: name, reason }, sum(name, h => h.ejectionsBy[i])))
    }
  },
})

export const ejectedHosts = new Gauge({
  name: 'isthmus_outlier_ejected_hosts',
  help: 'Hosts currently ejected by outlier detection, by cluster',
  labelNames: ['cluster'] as const,
  registers: [registry],
  collect () {
    const now = performance.now()
    for (const name of tracked.keys()) this.set({ cluster: name }, sum(name, h => h.ejectedCount(now)))
  },
})

export const circuitTrips = new Counter({
  name: 'isthmus_circuit_breaker_trips_total',
  help: 'Calls refused by a cluster circuit breaker, by cluster and breaker (connections, pending, requests, retries)',
  labelNames: ['cluster', 'breaker'] as const,
  registers: [registry],
  collect () {
    for (const name of tracked.keys()) {
      BREAKERS.forEach((breaker, i) => report(this, `t\0${name}\0${breaker}`, { cluster: name, breaker }, sum(name, h => h.tripsBy[i])))
    }
  },
})

export const retriesTotal = new Counter({
  name: 'isthmus_upstream_retries_total',
  help: 'Retried calls by cluster and outcome (success: the call ended OK after a retry; failure: it did not)',
  labelNames: ['cluster', 'outcome'] as const,
  registers: [registry],
  collect () {
    for (const name of tracked.keys()) {
      report(this, `r\0${name}\0success`, { cluster: name, outcome: 'success' }, sum(name, h => h.retriesOk))
      report(this, `r\0${name}\0failure`, { cluster: name, outcome: 'failure' }, sum(name, h => h.retriesFailed))
    }
  },
})

export const budgetExhausted = new Counter({
  name: 'isthmus_upstream_retry_budget_exhausted_total',
  help: 'Retries not made because the cluster\'s retry budget was spent, by cluster',
  labelNames: ['cluster'] as const,
  registers: [registry],
  collect () {
    for (const name of tracked.keys()) report(this, `b\0${name}`, { cluster: name }, sum(name, h => h.budgetExhausted))
  },
})
