/**
 * `mirror`: copy a fraction of a route's calls to other clusters and discard their answers
 * (optionally comparing them with the primary's). Runs at afterHost, after every filter that
 * may refuse or re-target the call, so only calls that go upstream are copied and the copy
 * carries the request headers as the primary sends them. A copy is a side request of the
 * core (gateway/call/side.ts): it has its own bounded write buffer and deadline and never
 * pauses, delays or fails the primary.
 */
import { CONTINUE, type Call, type Filter, type SideSpec, type Verdict } from '../../gateway/index.js'
import type { MirrorConfig, RouteMirror } from './config.js'
import { inflight, MirrorCall, MirrorCopy } from './mirror-call.js'
import { setSampleCapacity } from './samples.js'

export class MirrorFilter implements Filter {
  readonly #cfg: MirrorConfig

  constructor (cfg: MirrorConfig) {
    this.#cfg = cfg
    setSampleCapacity(cfg.samples)
  }

  onRequest (call: Call): Verdict {
    const route = call.route
    if (route === null) return CONTINUE
    const rm = this.#cfg.routes.get(route.name)
    if (rm === undefined) return CONTINUE
    this.#mirror(call, rm)
    return CONTINUE
  }

  #mirror (call: Call, rm: RouteMirror): void {
    const cfg = this.#cfg
    let mc: MirrorCall | null = null
    let untappable = false
    for (let i = 0; i < rm.targets.length; i++) {
      const t = rm.targets[i]
      if (t.fraction <= 0 || (t.fraction < 1 && Math.random() >= t.fraction)) continue
      if (call.stress && !rm.stress) { t.stress.n++; continue }
      if (bodySize(call) > cfg.maxBodyBytes) { t.dropped.cap.n++; continue }
      if (inflight.n >= cfg.maxInflight) { t.dropped.inflight.n++; continue }
      if (untappable) { t.dropped.unavailable.n++; continue }
      if (mc === null) {
        mc = new MirrorCall(cfg, rm, call)
        // A Triple call to an HTTP/1.1 cluster: its body cannot be copied.
        if (!call.tap(mc)) { untappable = true; t.dropped.unavailable.n++; continue }
      }
      const copy = new MirrorCopy(mc, t)
      const spec: SideSpec = { cluster: t.cluster, header: cfg.header, headerValue: cfg.headerValue, maxBufferedBytes: cfg.maxBufferedBytes, timeoutMs: cfg.timeoutMs, listener: copy }
      const side = call.openSide(spec)
      if (typeof side === 'string') { (side === 'buffer' ? t.dropped.buffer : t.dropped.unavailable).n++; continue }
      copy.side = side
      inflight.n++
      mc.copies.push(copy)
      call.mirrored = true
      // A mismatch is reported after the call's record: the audit links the two.
      if (rm.compare !== null && cfg.auditPerSecond > 0) call.eventsExpected = true
    }
  }

  onLog (call: Call): void {
    if (!call.mirrored || call.taps === null) return
    for (const t of call.taps) if (t instanceof MirrorCall && t.cfg === this.#cfg) t.primaryDone()
  }
}

/** What is known of the request body's size now: Triple content-length (when sent), Bolt the whole frame. */
function bodySize (call: Call): number {
  if (call.protocol === 'bolt') return call.bytesIn
  const cl = call.headers.get('content-length')
  if (cl === undefined) return 0
  const n = Number(cl)
  return Number.isFinite(n) ? n : 0
}
