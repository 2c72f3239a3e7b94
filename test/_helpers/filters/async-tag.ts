/** A user filter whose hook is async (awaits a timer), to drive the runner's async path end to end. */
import { CONTINUE, defineFilter, LocalReply, type Call } from '../../../gateway/chain/filter-api.js'

interface Cfg { delayMs: number, throwOn: string, denyReply: LocalReply }

export default defineFilter<{ delayMs: number, throwOn: string }, Cfg>({
  name: 'async-tag',
  schema: { type: 'object', additionalProperties: false, properties: { delayMs: { type: 'integer', default: 5 }, throwOn: { type: 'string', default: 'Explode' } } },
  compile (o, ctx) { return { ...o, denyReply: ctx.localReply('ISTH_ERR_AUTH_DENIED', 'async says no') } },
  create (cfg) {
    return {
      onRequest (call: Call) {
        if (call.method === cfg.throwOn) throw new Error('filter bug')
        return new Promise((resolve) => setTimeout(() => {
          if (call.headers.get('x-deny') === 'yes') { resolve(cfg.denyReply); return }
          call.headers.set('x-async', 'done')
          resolve(CONTINUE)
        }, cfg.delayMs))
      },
    }
  },
})
