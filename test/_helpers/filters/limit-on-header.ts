/** A user filter that answers ISTH_ERR_RATE_LIMITED when a header is present (a "limited" outcome for audit tests). */
import { CONTINUE, defineFilter, type Call, type LocalReply } from '../../../gateway/index.js'

export default defineFilter<{ header: string }, { header: string, reply: LocalReply }>({
  name: 'limit-on-header',
  schema: { type: 'object', additionalProperties: false, properties: { header: { type: 'string', default: 'x-limit' } } },
  compile (o, ctx) { return { header: o.header, reply: ctx.localReply('ISTH_ERR_RATE_LIMITED', 'test limit') } },
  create (cfg) {
    return {
      onRequest (call: Call) {
        if (call.headers.get(cfg.header) === undefined) return CONTINUE
        call.decide({ filter: 'limit-on-header', action: 'limit', reason: 'header present' })
        return cfg.reply
      },
    }
  },
})
