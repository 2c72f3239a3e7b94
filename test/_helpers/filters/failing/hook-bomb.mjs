// Fails from its hook as the x-bomb header says: `null` thrown synchronously, a rejected
// promise (a string), or a timer started in the hook that throws a string later.
const CONTINUE = 0
export default {
  name: 'hook-bomb',
  schema: { type: 'object' },
  compile: () => ({}),
  create: () => ({
    onRequest (call) {
      const how = call.headers.get('x-bomb')
      if (how === 'sync-null') throw null // eslint-disable-line no-throw-literal
      if (how === 'reject-string') return Promise.reject('hook rejected')
      if (how === 'later') setTimeout(() => { throw 'thrown later by a timer the hook started' }, 10) // eslint-disable-line no-throw-literal
      return CONTINUE
    },
  }),
}
