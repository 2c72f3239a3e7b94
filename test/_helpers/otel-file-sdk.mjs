// Preloaded into a spawned gateway (`node --import`, here through NODE_OPTIONS) the way the
// README's otel.mjs is: an OTel SDK whose exporter appends each finished span as a JSON line
// to the file named by ISTHMUS_TEST_SPANS.
import { appendFileSync } from 'node:fs'
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

const file = process.env.ISTHMUS_TEST_SPANS
const exporter = {
  export (spans, done) {
    for (const s of spans) {
      const sc = s.spanContext()
      appendFileSync(file, JSON.stringify({ name: s.name, kind: s.kind, traceId: sc.traceId, spanId: sc.spanId, parentSpanId: s.parentSpanContext?.spanId ?? null, attributes: s.attributes }) + '\n')
    }
    done({ code: 0 })
  },
  shutdown () { return Promise.resolve() },
}
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
