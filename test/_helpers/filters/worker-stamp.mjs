// A user filter (plain JS, so the compiled CLI loads it by path) for the multi-worker tests:
// it stamps each Triple response with the worker process that served it (`x-worker`: pid)
// and the config it was compiled from (`x-tag`). Its compile throws in the worker whose index
// (ISTHMUS_WORKER_INDEX, set by the primary for each worker) equals `failIn`: a change that
// one worker cannot apply, with nothing in the gateway built for tests.
export default {
  name: 'worker-stamp',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['tag'],
    properties: { tag: { type: 'string' }, failIn: { type: 'string' } },
  },
  compile (o) {
    if (o.failIn !== undefined && o.failIn === process.env.ISTHMUS_WORKER_INDEX) throw new Error(`worker-stamp refuses to compile in worker ${o.failIn}`)
    return Object.freeze({ tag: o.tag })
  },
  create (cfg) {
    const pid = String(process.pid)
    return {
      onResponse (call) {
        if (call.responseHeaders !== null) {
          call.responseHeaders.set('x-worker', pid)
          call.responseHeaders.set('x-tag', cfg.tag)
        }
        return 0 // CONTINUE
      },
    }
  },
}
