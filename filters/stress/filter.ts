/**
 * `stress`: flags SOFA load-test (full-link stress test) traffic. The mark is read from each
 * source of the call's protocol (baggage scanned in place, bounded); the call is flagged
 * (`call.stress`), counted apart, and optionally routed to shadow hosts or a shadow cluster.
 * Headers are never edited: the mark travels upstream byte for byte. With `refuse` on, every
 * stress call is refused and normal calls pass. Sync, no allocation per call.
 */
import { CONTINUE, type Call, type Filter, type LocalReply, type Verdict } from '../../gateway/index.js'
import { MARKED, NOT_MARKED, OVERSIZE, TOO_MANY_PAIRS, MALFORMED_PAIR, scanBaggage } from './baggage.js'
import type { StressConfig, StressRefusal } from './config.js'

export class StressFilter implements Filter {
  readonly #cfg: StressConfig
  readonly #merged = new WeakMap<object, Readonly<Record<string, string>>>()

  constructor (cfg: StressConfig) { this.#cfg = cfg }

  onRequest (call: Call): Verdict {
    const c = this.#cfg
    const sources = call.protocol === 'triple' ? c.triple : c.bolt
    let stress = false
    for (let i = 0; i < sources.length; i++) {
      const s = sources[i]
      const v = call.headers.get(s.name)
      if (v === undefined) continue
      if (!s.baggage) { if (v === s.value) stress = true; continue }
      const r = scanBaggage(v, c.key, c.value, c.maxBytes, c.maxPairs)
      if (r === MARKED) stress = true
      else if (r !== NOT_MARKED && (c.strict || r === OVERSIZE)) {
        return this.#refuse(r === OVERSIZE ? 'oversize' : r === TOO_MANY_PAIRS ? 'too-many-pairs' : r === MALFORMED_PAIR ? 'malformed' : 'bad-escape')
      }
    }
    if (!stress) { c.calls.inc(c.labels.normal); return CONTINUE }
    call.stress = true
    c.calls.inc(c.labels.stress)
    if (c.refuse) return this.#refuse('switch')
    if (c.shadowCluster !== null) {
      if (!call.reroute(c.shadowCluster)) return this.#refuse('shadow')
      call.subset = null
    } else if (c.shadowSubset !== null) {
      const sub = call.subset === null ? c.shadowSubset : this.#merge(call.subset)
      // Fail closed: stress traffic must never land on production hosts for want of shadow ones.
      if (call.cluster !== null && call.cluster.subsets.select(sub).length === 0) return this.#refuse('shadow')
      call.subset = sub
    }
    return CONTINUE
  }

  #merge (sub: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    let m = this.#merged.get(sub)
    if (m === undefined) { m = Object.freeze({ ...sub, ...this.#cfg.shadowSubset }); this.#merged.set(sub, m) }
    return m
  }

  #refuse (reason: StressRefusal): LocalReply {
    const c = this.#cfg
    c.refused.inc(c.labels.refused[reason])
    return c.replies[reason]
  }
}
