/**
 * Calls/s and error rate per (listener, service), from the same plain counters the metrics
 * scrape reads (gateway/metrics.ts CallMetrics.finished): the data path does nothing more for
 * the console. Each `sample()` compares with the previous one; the first sample reports 0/s.
 */
import { callMetrics } from '../../gateway/metrics.js'

export interface ServiceRate {
  /** Finished calls per second since the previous sample. */
  callsPerSec: number
  /** Share of those calls that ended with a non-zero status (0..1). */
  errorRate: number
  total: number
  errors: number
}

const LISTENERS = ['triple', 'bolt'] as const

export class RateTracker {
  #prev = new Map<string, { n: number, err: number }>()
  #prevAt = 0
  #rates = new Map<string, ServiceRate>()

  /** Take a sample (call at most once a second; the console's ticker does). */
  sample (now = Date.now()): void {
    const next = new Map<string, { n: number, err: number }>()
    const rates = new Map<string, ServiceRate>()
    const secs = this.#prevAt === 0 ? 0 : Math.max(0.001, (now - this.#prevAt) / 1000)
    for (const l of LISTENERS) {
      const m = callMetrics(l)
      for (const [service, byStatus] of m.finished) {
        let n = 0
        let err = 0
        for (const [status, cell] of byStatus) { n += cell.n; if (status !== 0) err += cell.n }
        const key = rateKey(l, service)
        next.set(key, { n, err })
        const p = this.#prev.get(key) ?? { n: 0, err: 0 }
        const dn = n - p.n
        const de = err - p.err
        rates.set(key, { callsPerSec: secs === 0 ? 0 : dn / secs, errorRate: dn > 0 ? de / dn : 0, total: n, errors: err })
      }
    }
    this.#prev = next
    this.#prevAt = now
    this.#rates = rates
  }

  /** The rate of `service` on these listeners (summed). */
  rate (service: string, listeners: readonly string[]): ServiceRate {
    const out: ServiceRate = { callsPerSec: 0, errorRate: 0, total: 0, errors: 0 }
    let errPerSec = 0
    for (const l of listeners) {
      const r = this.#rates.get(rateKey(l, service))
      if (r === undefined) continue
      out.callsPerSec += r.callsPerSec
      errPerSec += r.callsPerSec * r.errorRate
      out.total += r.total
      out.errors += r.errors
    }
    out.errorRate = out.callsPerSec > 0 ? errPerSec / out.callsPerSec : 0
    return out
  }
}

function rateKey (listener: string, service: string): string { return listener + '\u0000' + service }
