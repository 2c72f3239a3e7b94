/**
 * The bridge's metrics, as plain fields that prom-client reads at scrape time, and the small
 * HTTP endpoint that serves them: `/metrics` (Prometheus), `/ready` (200 once the registry was
 * read whole and pushed), `/healthz`, `/status` (JSON: layout, counts, pending resources).
 * Label values come from fixed sets, never from registry data.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

export const PUSH_KINDS = ['app', 'service', 'patch', 'delete'] as const
export type PushKind = typeof PUSH_KINDS[number]
export const PUSH_ERRORS = ['unavailable', 'conflict', 'rejected', 'not-found', 'unauthorized'] as const
export type PushError = typeof PUSH_ERRORS[number]
export const RESYNC_REASONS = ['start', 'zookeeper', 'admin', 'conflict', 'verify'] as const
export type ResyncReason = typeof RESYNC_REASONS[number]
export const SKIP_REASONS = ['bad-url', 'protocol', 'disabled', 'other-interface', 'bad-service'] as const
export type SkipCount = typeof SKIP_REASONS[number]

export class BridgeMetrics {
  /** Providers in the current view. */
  providers = 0
  /** Services (interfaces) exported / seen but filtered out. */
  services = 0
  filtered = 0
  readonly pushes: Record<PushKind, number> = { app: 0, service: 0, patch: 0, delete: 0 }
  pushBytes = 0
  readonly pushErrors: Record<PushError, number> = { unavailable: 0, conflict: 0, rejected: 0, 'not-found': 0, unauthorized: 0 }
  readonly resyncs: Record<ResyncReason, number> = { start: 0, zookeeper: 0, admin: 0, conflict: 0, verify: 0 }
  readonly skipped: Record<SkipCount, number> = { 'bad-url': 0, protocol: 0, disabled: 0, 'other-interface': 0, 'bad-service': 0 }
  watchEvents = 0
  zkConnected = 0
  ambiguous = 0
  /** Set by the bridge: the oldest unpushed change (epoch ms) or null. */
  oldestPending: () => number | null = () => null

  readonly registry = new Registry()

  constructor () {
    const r = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'isthmus_bridge_' })
    const m = this
    new Gauge({ name: 'isthmus_bridge_providers', help: 'Providers seen in the registry (exported services only)', registers: r, collect () { this.set(m.providers) } })
    new Gauge({
      name: 'isthmus_bridge_services', help: 'Services (interfaces) in the registry, exported or filtered out', labelNames: ['state'], registers: r,
      collect () { this.set({ state: 'exported' }, m.services); this.set({ state: 'filtered' }, m.filtered) },
    })
    counter(r, 'isthmus_bridge_pushes_total', 'Admin API writes accepted, by kind (app, service: full pushes; patch: incremental host change; delete)', 'kind', m.pushes)
    new Counter({ name: 'isthmus_bridge_push_bytes_total', help: 'Request body bytes of accepted admin writes', registers: r, collect () { setCounter(this, m.pushBytes) } })
    counter(r, 'isthmus_bridge_push_errors_total', 'Admin API writes that failed, by reason (each is retried)', 'reason', m.pushErrors)
    counter(r, 'isthmus_bridge_resyncs_total', 'Full resyncs, by reason (start, zookeeper session back, admin back or unknown, conflict, periodic verify)', 'reason', m.resyncs)
    counter(r, 'isthmus_bridge_providers_skipped_total', 'Provider nodes skipped, by reason', 'reason', m.skipped)
    new Counter({ name: 'isthmus_bridge_zookeeper_watch_events_total', help: 'ZooKeeper watch notifications received', registers: r, collect () { setCounter(this, m.watchEvents) } })
    new Gauge({ name: 'isthmus_bridge_zookeeper_connected', help: '1 while the ZooKeeper session is connected', registers: r, collect () { this.set(m.zkConnected) } })
    new Gauge({ name: 'isthmus_bridge_ambiguous_instances', help: 'Instances exporting only some variants of a service name their app exports in several', registers: r, collect () { this.set(m.ambiguous) } })
    new Gauge({
      name: 'isthmus_bridge_lag_seconds', help: 'Age of the oldest registry change not yet accepted by the admin API (0: in sync)', registers: r,
      collect () { const o = m.oldestPending(); this.set(o === null ? 0 : Math.max(0, (Date.now() - o) / 1000)) },
    })
  }
}

/** Counters are plain fields: prom-client takes their value at scrape time. */
function setCounter (c: Counter, n: number): void {
  c.reset()
  c.inc(n)
}

function counter<K extends string> (r: Registry[], name: string, help: string, label: string, cells: Record<K, number>): void {
  new Counter({
    name, help, labelNames: [label], registers: r,
    collect () {
      this.reset()
      for (const k of Object.keys(cells) as K[]) this.inc({ [label]: k }, cells[k])
    },
  })
}

export interface StatusSource {
  ready (): boolean
  status (): Record<string, unknown>
}

/** Serve /metrics, /ready, /healthz and /status on host:port (port 0: a free one). */
export async function startMetricsServer (metrics: BridgeMetrics, source: StatusSource, host: string, port: number): Promise<{ server: Server, port: number, close (): Promise<void> }> {
  const server = createServer((req, res) => { void handle(metrics, source, req, res) })
  server.on('clientError', onClientError)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() }),
  }
}

function onClientError (_err: Error, socket: import('node:stream').Duplex): void { socket.destroy() }

async function handle (metrics: BridgeMetrics, source: StatusSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.on('error', () => {})
  try {
    if (req.method !== 'GET') { res.writeHead(405).end(); return }
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/metrics') {
      const body = await metrics.registry.metrics()
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body)
    } else if (path === '/healthz') {
      json(res, 200, { ok: true })
    } else if (path === '/ready') {
      const ready = source.ready()
      json(res, ready ? 200 : 503, { ready })
    } else if (path === '/status') {
      json(res, 200, source.status())
    } else {
      res.writeHead(404).end()
    }
  } catch (err) {
    json(res, 500, { error: (err as Error).message })
  }
}

function json (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}
