/**
 * Compile a filter factory the way the gateway does (schema defaults, then compile) with a
 * test CompileContext, and make Calls to run its hooks on.
 */
import pino from 'pino'
import type { CompileContext, Filter, FilterFactory } from '../../gateway/chain/filter-api.js'
import { LocalReply } from '../../gateway/chain/local-reply.js'
import { IsthmusError } from '../../gateway/errors.js'
import { compileValidator } from '../../gateway/config/validate.js'
import { Call, type Protocol } from '../../gateway/call/call.js'
import { ObjectHeaders } from '../../gateway/call/headers.js'

export function testContext (o: { entity?: string, baseDir?: string } = {}): CompileContext {
  return {
    entity: o.entity ?? 'acme',
    baseDir: o.baseDir ?? process.cwd(),
    logger: pino({ level: 'silent' }),
    invalid: (message, path) => new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}: ${message}`, path),
    localReply: (code, detail, message) => new LocalReply(code, detail, message),
    counter: () => ({ inc: () => {}, cell: () => ({ n: 0 }) }),
    readsMethod: () => {},
  }
}

/** Validate (with defaults) and compile `options`, then create the filter. */
export function compileFilter<O, C> (factory: FilterFactory<O, C>, options: unknown, ctx: CompileContext = testContext()): { filter: Filter, config: C } {
  const opts = compileValidator<O>(factory.schema)(structuredClone(options), '/config')
  const config = factory.compile(opts, ctx)
  return { filter: factory.create(config), config }
}

/** A Call with the given headers, as a protocol driver would build it. */
export function makeCall (o: { protocol?: Protocol, service?: string, method?: string, headers?: Record<string, string> } = {}): Call {
  const protocol = o.protocol ?? 'triple'
  const call = new Call(protocol, protocol, new ObjectHeaders({ ...(o.headers ?? {}) }), '127.0.0.1')
  call.service = o.service ?? 'com.example.Echo'
  call.method = o.method ?? 'echo'
  return call
}
