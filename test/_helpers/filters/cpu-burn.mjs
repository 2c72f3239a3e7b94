// A user filter (plain JS, so the compiled CLI can load it by path) that burns `ms` of wall
// clock on the event loop for each call to `service`: a stand-in for an expensive call
// path, to push event-loop delay up. It runs at afterHost, after `rate-limit` has decided.
import { performance } from 'node:perf_hooks'

export default {
  name: 'cpu-burn',
  phase: 'afterHost',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['service', 'ms'],
    properties: { service: { type: 'string' }, ms: { type: 'number', minimum: 0 } },
  },
  compile (o) { return Object.freeze({ service: o.service, ms: o.ms }) },
  create (cfg) {
    return {
      onRequest (call) {
        if (call.service === cfg.service) {
          const end = performance.now() + cfg.ms
          while (performance.now() < end) { /* burn */ }
        }
        return 0 // CONTINUE
      },
    }
  },
}
