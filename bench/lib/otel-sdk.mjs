// An OTel SDK for bench/triple.ts --trace, preloaded with `node --import`: every span is
// recorded and batched, then discarded (the bench measures the gateway, not an exporter).
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'

const discard = { export (_spans, done) { done({ code: 0 }) }, shutdown () { return Promise.resolve() } }
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard, { maxQueueSize: 65536 })] }))
