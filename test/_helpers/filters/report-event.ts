/** A user filter loaded by path in tests: reports events on each call from its onLog (before the audit's onLog has run). */
import { CONTINUE, defineFilter, type Call } from '../../../gateway/chain/filter-api.js'

export default defineFilter<{ kinds: string[] }, { kinds: string[] }>({
  name: 'report-event',
  schema: { type: 'object', additionalProperties: false, required: ['kinds'], properties: { kinds: { type: 'array', items: { type: 'string' } } } },
  compile (o) { return Object.freeze({ kinds: o.kinds }) },
  create (cfg) {
    return {
      onRequest (call: Call) {
        call.eventsExpected = true
        return CONTINUE
      },
      onLog (call: Call) {
        for (const kind of cfg.kinds) call.report({ kind, data: { svc: call.service, status: call.status } })
        // Keys the exporter's text search reads (`k`, `seq`) are refused at any depth.
        call.report({ kind: 'probe', data: { nested: { seq: 1 } } })
        call.report({ kind: 'probe', data: { k: 'rec' } })
      },
    }
  },
})
