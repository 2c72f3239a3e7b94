/** A user filter loaded by path in tests: stamps the caller's identity on the request. */
import { CONTINUE, defineFilter, type Call } from '../../../gateway/chain/filter-api.js'

export default defineFilter<{ header: string }, { header: string }>({
  name: 'peer-stamp',
  schema: { type: 'object', additionalProperties: false, required: ['header'], properties: { header: { type: 'string', minLength: 1 } } },
  compile (o) { return Object.freeze({ header: o.header }) },
  create (cfg) {
    return {
      onRequest (call: Call) {
        const p = call.caller
        call.headers.set(cfg.header, p === null ? 'anonymous' : `${p.entity ?? '?'}/${p.app ?? '-'}`)
        return CONTINUE
      },
    }
  },
})
