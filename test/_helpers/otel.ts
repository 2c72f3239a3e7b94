/**
 * An OpenTelemetry SDK for tests: a BasicTracerProvider exporting to memory, registered as
 * the process's global provider (with an AsyncLocalStorage context manager, as an
 * application's setup would). Tests that use it must run serially: the provider is global.
 */
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'

export interface MemoryTracing {
  readonly exporter: InMemorySpanExporter
  readonly provider: BasicTracerProvider
  /** Wait until `pred` holds over the finished spans (spans end when the call's log phase runs). */
  until (pred: (spans: ReadableSpan[]) => boolean, ms?: number): Promise<ReadableSpan[]>
}

export function registerMemoryTracing (): MemoryTracing {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  if (!trace.setGlobalTracerProvider(provider)) throw new Error('a tracer provider is registered already')
  return {
    exporter,
    provider,
    async until (pred, ms = 20000) {
      const end = Date.now() + ms
      for (;;) {
        const spans = exporter.getFinishedSpans()
        if (pred(spans)) return spans
        if (Date.now() > end) throw new Error(`timed out waiting for spans; have ${spans.map(s => s.name).join(', ')}`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    },
  }
}
