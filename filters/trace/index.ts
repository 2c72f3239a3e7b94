/**
 * `trace`: OpenTelemetry spans for every call (README "Tracing"). A SERVER span per call, a
 * CLIENT span per upstream attempt, W3C `traceparent` and the SOFA trace ids read from the
 * request and written to the upstream, the ids on `call.trace` for the audit. A no-op until
 * the process registers an OTel SDK. Put it first in the chain, so its server span covers
 * the other filters and its ids are set before the audit's onLog.
 */
import { defineFilter } from '../../gateway/index.js'
import { TraceFilter } from './filter.js'
import type { WireOptions } from './wire.js'

export interface TraceOptions {
  /** Also write `traceparent` into the Bolt header map (default true). */
  boltTraceparent: boolean
  /** Read Bolt methods from the body for span names (costs a bounded body read per call). */
  boltMethod: boolean
  /** Bounds on a Bolt `new_rpc_trace_context` value read from a request. */
  maxContextBytes: number
  maxContextPairs: number
}

const trace = defineFilter<TraceOptions, WireOptions>({
  name: 'trace',
  schema: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      boltTraceparent: { type: 'boolean', default: true },
      boltMethod: { type: 'boolean', default: false },
      maxContextBytes: { type: 'integer', minimum: 64, maximum: 65536, default: 4096 },
      maxContextPairs: { type: 'integer', minimum: 4, maximum: 1024, default: 64 },
    },
  },
  compile (o, ctx) {
    if (o.boltMethod) ctx.readsMethod()
    return Object.freeze({ boltTraceparent: o.boltTraceparent, maxContextBytes: o.maxContextBytes, maxContextPairs: o.maxContextPairs })
  },
  create: cfg => new TraceFilter(cfg),
})
export default trace
