// A user filter (loaded by path from b-ingress.yaml): tells the provider who is calling, as
// proven by the mTLS client certificate (or a verified token).
export default {
  name: 'show-caller',
  schema: { type: 'object', additionalProperties: false },
  compile: () => ({}),
  create: () => ({
    onRequest (call) {
      const caller = call.caller
      call.headers.set('x-isthmus-caller', caller === null ? 'anonymous' : caller.principal)
      return 0
    },
  }),
}
