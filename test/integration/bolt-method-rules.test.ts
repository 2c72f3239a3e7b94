/**
 * Method rules on Bolt fail closed. sofa-rpc-node puts the method only in the hessian2 body;
 * when a route or a filter matches methods, the gateway reads it from there (and only then).
 * A call whose method cannot be read (an unparsable body, a header that contradicts the
 * body) is denied by deny rules with a method, not allowed by allow rules with one, and
 * matched by no route with one.
 */
import test, { type ExecutionContext } from 'ava'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE, TEST_VERSION, type SofaConsumer } from '../_peers/sofa-rpc.js'
import { startBoltGateway, type GatewaySpec } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, readResponse, requestFrame, withHeaderMap } from '../_helpers/bolt-frames.js'
import { BoltStatus } from '../../gateway/errors.js'
import { registerFilter } from '../../gateway/chain/filter-registry.js'
import { CONTINUE, defineFilter, type Call } from '../../gateway/chain/filter-api.js'

const SVC = `${TEST_SERVICE}:${TEST_VERSION}`

async function setup (t: ExecutionContext, spec: Omit<GatewaySpec, 'upstreamPort'>): Promise<{ port: number, consumer: SofaConsumer }> {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port, ...spec }); t.teardown(() => gw.close())
  const client = sofaClient(); t.teardown(() => client.close())
  return { port: gw.port, consumer: await sofaConsumer(client, gw.port) }
}

async function errorOf (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) { return (err as Error).message }
  return 'no error'
}

/** Send raw frames, return each response's status and message. */
async function raw (t: ExecutionContext, port: number, frames: Buffer[]): Promise<Array<{ status: number, text: string }>> {
  const c = new RawBoltClient(port); t.teardown(() => c.close())
  await c.ready()
  for (const f of frames) c.write(f)
  await c.until(() => c.frames.length >= frames.length, 10_000)
  return frames.map((_, i) => {
    const f = c.byId(i + 1)!
    const r = readResponse(f.buf)
    return { status: f.status, text: String(r.error ?? r.value) }
  })
}

/** A plus(2, 3) request whose hessian2 body cannot be parsed (its first byte broken). */
function unreadable (id: number): Buffer {
  const b = requestFrame({ id, service: SVC, method: 'plus', args: [2, 3] })
  const content = 22 + b.readInt16BE(14) + b.readInt16BE(16)
  b[content] = 0xff
  return b
}

const denyPlus = [{ name: 'deny', config: { rules: [{ name: 'no-plus', method: { prefix: 'plus' } }] } }]

test('deny plus*: sofa-rpc-node plus(2,3) is refused (the method is read from the body); echo passes', async t => {
  const { consumer } = await setup(t, { filters: denyPlus })
  t.regex(await errorOf(consumer.invoke('plus', [2, 3])), /ISTH_ERR_FILTER_DENIED/)
  t.is(await consumer.invoke('echo', ['hi']), 'hi')
})

test('deny with a method matcher denies a call whose method cannot be read; one without a method rule is not touched', async t => {
  const { port } = await setup(t, { filters: denyPlus })
  const [r] = await raw(t, port, [unreadable(1)])
  t.is(r.status, BoltStatus.SERVER_EXCEPTION)
  t.regex(r.text, /ISTH_ERR_FILTER_DENIED/)
  const other = await setup(t, { filters: [{ name: 'deny', config: { rules: [{ name: 'svc', service: 'com.nope.X' }] } }] })
  const [r2] = await raw(t, other.port, [unreadable(1)])
  t.notRegex(r2.text, /ISTH_ERR_FILTER_DENIED/) // forwarded: the upstream itself rejects the body
})

test('a sofa_head_method_name that contradicts the body is not believed (the provider runs the body)', async t => {
  const { port } = await setup(t, { filters: denyPlus })
  const lying = withHeaderMap(requestFrame({ id: 1, service: SVC, method: 'plus', args: [2, 3] }), { service: SVC, sofa_head_method_name: 'echo' })
  const honest = withHeaderMap(requestFrame({ id: 2, service: SVC, method: 'echo', args: ['x'] }), { service: SVC, sofa_head_method_name: 'echo' })
  const [a, b] = await raw(t, port, [lying, honest])
  t.regex(a.text, /ISTH_ERR_FILTER_DENIED/)
  t.is(b.status, BoltStatus.SUCCESS)
  t.is(b.text, 'x')
})

test('policy: a deny rule with a method denies on Bolt; an allow rule with a method allows only that method', async t => {
  const deny = await setup(t, { filters: [{ name: 'policy', config: { default: 'allow', rules: [{ name: 'no-plus', action: 'deny', to: { method: 'plus' } }] } }] })
  t.regex(await errorOf(deny.consumer.invoke('plus', [2, 3])), /ISTH_ERR_AUTH_DENIED/)
  t.is(await deny.consumer.invoke('echo', ['a']), 'a')
  const [r] = await raw(t, deny.port, [unreadable(1)])
  t.regex(r.text, /ISTH_ERR_AUTH_DENIED/)

  const allow = await setup(t, { filters: [{ name: 'policy', config: { default: 'deny', rules: [{ name: 'echo-only', action: 'allow', to: { method: 'echo' } }] } }] })
  t.is(await allow.consumer.invoke('echo', ['b']), 'b')
  t.regex(await errorOf(allow.consumer.invoke('plus', [2, 3])), /ISTH_ERR_AUTH_DENIED/)
  const [r2] = await raw(t, allow.port, [unreadable(1)])
  t.regex(r2.text, /ISTH_ERR_AUTH_DENIED/) // not allowed by the method rule, so the default denies
})

test('routes: a method match routes sofa-rpc-node calls by their method; an unreadable method matches no method route', async t => {
  const { consumer, port } = await setup(t, {
    routes: [
      { name: 'plus-only', match: { protocol: 'bolt', service: TEST_SERVICE, method: 'plus' }, cluster: 'up', timeoutMs: 5000 },
    ],
  })
  t.is(await consumer.invoke('plus', [2, 3]), 5)
  t.regex(await errorOf(consumer.invoke('echo', ['x'])), /ISTH_ERR_ROUTE_NOT_FOUND/)
  const [r] = await raw(t, port, [unreadable(1)])
  t.is(r.status, BoltStatus.NO_PROCESSOR)
  t.regex(r.text, /ISTH_ERR_ROUTE_NOT_FOUND/)
})

test('requireMethod: sofa-rpc-node calls now pass (method read from the body); an unreadable one is refused', async t => {
  const { consumer, port } = await setup(t, { routeExtra: { requireMethod: true } })
  t.is(await consumer.invoke('plus', [20, 22]), 42)
  const [r] = await raw(t, port, [unreadable(1)])
  t.regex(r.text, /ISTH_ERR_ROUTE_METHOD_REQUIRED/)
})

// A filter that records call.method, with or without declaring ctx.readsMethod().
const seen: Record<string, string[]> = { declares: [], silent: [] }
for (const [name, declares] of [['method-probe-declares', true], ['method-probe-silent', false]] as const) {
  registerFilter(defineFilter<Record<string, never>, null>({
    name,
    schema: { type: 'object' },
    compile (_o, ctx) { if (declares) ctx.readsMethod(); return null },
    create () { return { onRequest (call: Call) { seen[declares ? 'declares' : 'silent'].push(call.method); return CONTINUE } } },
  }))
}

test('lazy: the body is read only when some filter declared ctx.readsMethod() (or a route matches methods)', async t => {
  const silent = await setup(t, { filters: [{ name: 'method-probe-silent' }] })
  t.is(await silent.consumer.invoke('plus', [1, 1]), 2)
  t.deepEqual(seen.silent, [''])
  const declares = await setup(t, { filters: [{ name: 'method-probe-declares' }] })
  t.is(await declares.consumer.invoke('plus', [1, 1]), 2)
  t.deepEqual(seen.declares, ['plus'])
})
