import test from 'ava'
import { CONTINUE, type Filter, type Verdict } from '../../../gateway/chain/filter-api.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { CompiledChain } from '../../../gateway/chain/compiled-chain.js'
import { PENDING, runHooks, runLogHooks, runUpstreamHooks, setHookErrorHandler } from '../../../gateway/chain/runner.js'
import type { Call } from '../../../gateway/call/call.js'
import { makeCall } from '../../_helpers/compile-filter.js'

const DENY = new LocalReply('ISTH_ERR_FILTER_DENIED', 'test')

function entries (...hooks: Array<(c: Call) => Verdict>) {
  return hooks.map((h, i) => ({ name: `f${i}`, filter: { onRequest: h } as Filter }))
}

test('sync hooks run in order and return CONTINUE without a Promise', (t) => {
  const seen: number[] = []
  const r = runHooks(makeCall(), entries(() => { seen.push(0); return CONTINUE }, () => { seen.push(1); return CONTINUE }), 'onRequest', 0, () => t.fail())
  t.is(r, CONTINUE)
  t.deepEqual(seen, [0, 1])
})

test('a LocalReply stops the chain', (t) => {
  const seen: number[] = []
  const r = runHooks(makeCall(), entries(() => DENY, () => { seen.push(1); return CONTINUE }), 'onRequest', 0, () => t.fail())
  t.is(r, DENY)
  t.deepEqual(seen, [])
})

test('an async hook pauses the chain; it resumes at the next filter', async (t) => {
  const seen: number[] = []
  const done = new Promise<unknown>((resolve) => {
    const r = runHooks(makeCall(), entries(
      () => { seen.push(0); return CONTINUE },
      async () => { await new Promise(res => setTimeout(res, 5)); seen.push(1); return CONTINUE as typeof CONTINUE },
      () => { seen.push(2); return CONTINUE },
    ), 'onRequest', 0, (_c, v) => resolve(v))
    t.is(r, PENDING)
  })
  t.is(await done, CONTINUE)
  t.deepEqual(seen, [0, 1, 2])
})

test('an async LocalReply ends the call', async (t) => {
  const v = await new Promise<unknown>((resolve) => {
    runHooks(makeCall(), entries(() => Promise.resolve(DENY), () => t.fail() as never), 'onRequest', 0, (_c, r) => resolve(r))
  })
  t.is(v, DENY)
})

test.serial('a throwing or rejecting hook becomes ISTH_ERR_FILTER_FAILED and is reported, never thrown', async (t) => {
  const errors: string[] = []
  setHookErrorHandler((_c, name) => errors.push(name))
  t.teardown(() => setHookErrorHandler(() => {}))
  const r = runHooks(makeCall(), entries(() => { throw new Error('boom') }), 'onRequest', 0, () => t.fail())
  t.is((r as LocalReply).code, 'ISTH_ERR_FILTER_FAILED')
  t.is((r as LocalReply).grpcStatus, 13)
  const v = await new Promise<unknown>((resolve) => {
    runHooks(makeCall(), entries(() => CONTINUE, () => Promise.reject(new Error('late'))), 'onRequest', 0, (_c, x) => resolve(x))
  })
  t.is((v as LocalReply).code, 'ISTH_ERR_FILTER_FAILED')
  t.deepEqual(errors, ['f0', 'f1'])
  runLogHooks(makeCall(), [{ name: 'log', filter: { onLog: () => { throw new Error('x') } } }])
  t.deepEqual(errors, ['f0', 'f1', 'log'])
})

test('CompiledChain keeps empty phases null and runs response hooks in reverse', (t) => {
  const a: Filter = { onRequest: () => CONTINUE, onResponse: () => CONTINUE }
  const b: Filter = { onResponse: () => CONTINUE, onLog: () => {} }
  const chain = new CompiledChain([{ name: 'a', filter: a, phase: 'beforeRoute' }, { name: 'b', filter: b, phase: 'afterHost' }])
  t.is(chain.beforeRoute?.length, 1)
  t.is(chain.afterRoute, null)
  t.is(chain.afterHost, null) // b has no onRequest
  t.deepEqual(chain.response?.map(e => e.name), ['b', 'a'])
  t.deepEqual(chain.log?.map(e => e.name), ['b'])
  t.is(CompiledChain.EMPTY.beforeRoute, null)
  t.is(chain.upstream, null) // no onUpstream hook: the forward path skips the phase
  t.is(CompiledChain.EMPTY.upstream, null)
})

test.serial('onUpstream hooks run in chain order; a throw is logged and the next hook still runs', (t) => {
  const seen: string[] = []
  const logged: string[] = []
  setHookErrorHandler((_c, filter) => { logged.push(filter) })
  t.teardown(() => setHookErrorHandler(() => {}))
  const chain = new CompiledChain([
    { name: 'a', filter: { onUpstream: () => { seen.push('a'); throw new Error('boom') } }, phase: 'beforeRoute' },
    { name: 'b', filter: { onRequest: () => CONTINUE }, phase: 'beforeRoute' },
    { name: 'c', filter: { onUpstream: () => { seen.push('c') } }, phase: 'afterHost' },
  ])
  t.deepEqual(chain.upstream?.map(e => e.name), ['a', 'c'])
  runUpstreamHooks(makeCall(), chain.upstream!)
  t.deepEqual(seen, ['a', 'c'])
  t.deepEqual(logged, ['a'])
})

test.serial('a throw while resuming after an async hook fails that call with ISTH_ERR_INTERNAL, never an unhandled rejection', async (t) => {
  const { setResumeErrorHandler } = await import('../../../gateway/chain/runner.js')
  const logged: unknown[] = []
  setResumeErrorHandler((_c, err) => logged.push(err))
  t.teardown(() => setResumeErrorHandler(() => {}))
  const unhandled: unknown[] = []
  const onUnhandled = (r: unknown): void => { unhandled.push(r) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const results: unknown[] = []
  await new Promise<void>((resolve) => {
    runHooks(makeCall(), entries(() => Promise.resolve(CONTINUE as typeof CONTINUE)), 'onRequest', 0, (_c, r) => {
      results.push(r)
      // The gateway's forward throws the first time (e.g. an invalid header node:http2 refuses).
      if (results.length === 1) throw new TypeError('ERR_HTTP2_INVALID_CONNECTION_HEADERS')
      resolve()
    })
  })
  await new Promise(resolve => setImmediate(resolve))
  t.is(results[0], CONTINUE)
  t.is((results[1] as LocalReply).code, 'ISTH_ERR_INTERNAL')
  t.is(logged.length, 1)
  t.deepEqual(unhandled, [])
})

test.serial('async verdicts are checked like sync ones; a thenable whose then() throws fails the call, not the caller', async (t) => {
  const errors: string[] = []
  setHookErrorHandler((_c, name) => errors.push(name))
  t.teardown(() => setHookErrorHandler(() => {}))
  const bogus = await new Promise<unknown>((resolve) => {
    runHooks(makeCall(), entries(() => Promise.resolve('deny' as never)), 'onRequest', 0, (_c, r) => resolve(r))
  })
  t.is((bogus as LocalReply).code, 'ISTH_ERR_FILTER_FAILED')
  const evil = { then () { throw null } } as unknown as PromiseLike<typeof CONTINUE> // eslint-disable-line no-throw-literal
  let r: unknown
  const v = await new Promise<unknown>((resolve) => {
    r = runHooks(makeCall(), entries(() => evil), 'onRequest', 0, (_c, x) => resolve(x))
  })
  t.is(r, PENDING)
  t.is((v as LocalReply).code, 'ISTH_ERR_FILTER_FAILED')
  t.deepEqual(errors, ['f0', 'f0'])
})
