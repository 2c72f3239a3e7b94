/**
 * A stateful filter survives admin changes that do not touch it: a discovery push or a
 * one-host patch reuses the compiled filter (same instance, state kept, never closed); a
 * change of its own config compiles a new one and the old one is closed after the drain
 * timeout (startGateway).
 */
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { startTestGateway } from '../_helpers/gateway.js'
import { tempDir } from '../_helpers/admin.js'

const TOKEN = 'reuse-token'

// A user filter that counts its instances and closes in a global the test reads.
const MODULE = `
const g = globalThis.__reuseFilter ??= { created: 0, closed: [] }
export default {
  name: 'counting',
  schema: { type: 'object', properties: { tag: { type: 'string' } } },
  compile: (o) => ({ tag: o.tag ?? '' }),
  create: (cfg) => {
    const id = ++g.created
    return { id, calls: 0, onRequest () { this.calls++; return undefined }, close () { g.closed.push(id) } }
  },
}
`

test('unrelated admin writes keep the compiled filter; its own change retires it', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  writeFileSync(d.file('counting.mjs'), MODULE)
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN } },
    filters: [{ name: 'counting', module: 'counting.mjs', config: { tag: 'a' } }],
    drain: { timeoutMs: 50 },
  }, d.dir)
  const g = (globalThis as unknown as { __reuseFilter: { created: number, closed: number[] } }).__reuseFilter
  const call = async (method: string, path: string, body: unknown): Promise<number> => {
    const r = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    await r.text()
    return r.status
  }
  const first = gw.snapshot.current.filters[0]
  const createdAtStart = g.created
  t.is(await call('PUT', '/v1/discovery/apps/shop', { revision: 1, instances: [{ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 1 }], services: [{ name: 'A' }] }), 200)
  t.is(await call('PATCH', '/v1/clusters/shop:triple/hosts', { revision: 2, remove: ['10.0.0.1:1'] }), 200)
  t.is(await call('PUT', '/v1/routes', { revision: 1, routes: [] }), 200)
  await new Promise(resolve => setTimeout(resolve, 200)) // past drain.timeoutMs
  t.is(gw.snapshot.current.filters[0], first)
  t.is(g.created, createdAtStart)
  t.false(g.closed.includes((first as unknown as { id: number }).id))
  // its own config: a new instance, and the old one is closed after the drain timeout
  t.is(await call('PUT', '/v1/filters/counting', { revision: 1, config: { tag: 'b' } }), 200)
  t.not(gw.snapshot.current.filters[0], first)
  await new Promise(resolve => setTimeout(resolve, 200))
  t.true(g.closed.includes((first as unknown as { id: number }).id))
})
