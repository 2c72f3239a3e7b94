/** A user filter (afterRoute) that sends calls carrying `x-to` to the cluster it names, via Call.reroute. */
import { CONTINUE, defineFilter, type Call } from '../../../gateway/index.js'

export default defineFilter<Record<string, never>, null>({
  name: 'reroute',
  phase: 'afterRoute',
  schema: { type: 'object', additionalProperties: false },
  compile () { return null },
  create () {
    return {
      onRequest (call: Call) {
        const to = call.headers.get('x-to')
        if (to === undefined) return CONTINUE
        call.headers.set('x-rerouted', call.reroute(to) ? `${call.route?.name ?? '?'}->${call.cluster?.name ?? '?'}` : 'refused')
        return CONTINUE
      },
    }
  },
})
