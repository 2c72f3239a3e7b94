import net from 'node:net'
import type { Logger } from 'pino'
import type { Cluster } from './cluster.js'
import type { Host } from './host.js'
import { compiledFrom, type Snapshot } from '../config/snapshot.js'

interface Probe { timer: NodeJS.Timeout, ok: number, fail: number }

/**
 * Active health checks: a TCP connect to each host of every cluster that sets
 * `healthCheck.intervalMs`. `unhealthyThreshold` failures in a row mark a host down,
 * `healthyThreshold` successes bring it back. Probes are keyed by Host, so a snapshot swap
 * keeps the counts of hosts that stay.
 */
export class HealthChecker {
  readonly #logger: Logger
  readonly #probes = new Map<Host, Probe>()

  constructor (logger: Logger) { this.#logger = logger }

  /**
   * After a swap from `old` to `next`. When `next` was compiled from `old` and no cluster it
   * replaced or added checks health, the probed set cannot change: skip the walk over every
   * cluster (4,000 of them for 2,000 apps, on every push).
   */
  swap (old: Snapshot, next: Snapshot): void {
    if (compiledFrom(old, next)) {
      const d = next.clusterDelta as NonNullable<Snapshot['clusterDelta']>
      if (!d.replaced.some(checks) && !d.added.some(checks)) return
    }
    this.update(next.clusters.values())
  }

  /** Check exactly the hosts of these clusters (call after every swap). */
  update (clusters: Iterable<Cluster>): void {
    const want = new Map<Host, Cluster>()
    for (const c of clusters) {
      if (c.options.healthCheck.intervalMs <= 0) continue
      for (const h of c.hosts) want.set(h, c)
    }
    for (const [h, p] of this.#probes) {
      if (!want.has(h)) { clearInterval(p.timer); this.#probes.delete(h); h.healthy = true }
    }
    for (const [h, c] of want) {
      if (this.#probes.has(h)) continue
      const hc = c.options.healthCheck
      const probe: Probe = { ok: 0, fail: 0, timer: setInterval(() => this.#probe(h, probe, c), hc.intervalMs) }
      probe.timer.unref()
      this.#probes.set(h, probe)
    }
  }

  #probe (h: Host, p: Probe, c: Cluster): void {
    const hc = c.options.healthCheck
    const socket = net.connect({ host: h.address, port: h.port })
    socket.setTimeout(hc.timeoutMs)
    const done = (ok: boolean): void => {
      socket.removeAllListeners()
      socket.on('error', () => {})
      socket.destroy()
      if (ok) { p.ok++; p.fail = 0 } else { p.fail++; p.ok = 0 }
      if (!h.healthy && p.ok >= hc.healthyThreshold) {
        h.healthy = true
        this.#logger.info({ host: h.id, cluster: c.name }, 'host healthy')
      } else if (h.healthy && p.fail >= hc.unhealthyThreshold) {
        h.healthy = false
        this.#logger.warn({ host: h.id, cluster: c.name }, 'host unhealthy')
      }
    }
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  }

  close (): void {
    for (const p of this.#probes.values()) clearInterval(p.timer)
    this.#probes.clear()
  }
}

function checks (c: Cluster): boolean { return c.options.healthCheck.intervalMs > 0 }
