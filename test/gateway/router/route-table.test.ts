import test from 'ava'
import { Call } from '../../../gateway/call/call.js'
import { ObjectHeaders } from '../../../gateway/call/headers.js'
import { RouteTable } from '../../../gateway/router/route-table.js'
import type { RouteOptions } from '../../../gateway/config/options.js'

function call (o: { protocol?: 'triple' | 'bolt', service: string, method?: string, version?: string, group?: string, headers?: Record<string, string> }): Call {
  const c = new Call(o.protocol ?? 'triple', o.protocol ?? 'triple', new ObjectHeaders({ ...(o.headers ?? {}) }), '127.0.0.1')
  c.service = o.service
  c.method = o.method ?? ''
  c.version = o.version ?? ''
  c.group = o.group ?? ''
  return c
}

const r = (name: string, match: RouteOptions['match'], cluster = name): RouteOptions => ({ name, match, cluster, timeoutMs: 1000 })

const table = new RouteTable([
  r('canary', { service: 'a.Svc', headers: [{ name: 'x-canary', exact: 'true' }] }),
  r('v2', { service: 'a.Svc', version: '2.0.0', group: 'g' }),
  r('bolt-only', { protocol: 'bolt', service: 'a.Svc' }),
  r('prefix', { service: { prefix: 'b.' }, method: { regex: 'Get.*' } }),
  r('a-default', { service: 'a.Svc' }),
  r('star', { service: 'c.*' }),
  r('present', { headers: [{ name: 'x-tenant', present: true }] }),
])

test('first match in config order wins, exact-service index keeps the order', (t) => {
  t.is(table.match(call({ service: 'a.Svc', headers: { 'x-canary': 'true' } }))?.name, 'canary')
  t.is(table.match(call({ service: 'a.Svc', version: '2.0.0', group: 'g' }))?.name, 'v2')
  t.is(table.match(call({ service: 'a.Svc', version: '2.0.0' }))?.name, 'a-default')
  t.is(table.match(call({ protocol: 'bolt', service: 'a.Svc' }))?.name, 'bolt-only')
  t.is(table.match(call({ service: 'a.Svc' }))?.name, 'a-default')
})

test('prefix, regex, trailing-star and header-presence matches', (t) => {
  t.is(table.match(call({ service: 'b.Any', method: 'GetThing' }))?.name, 'prefix')
  t.is(table.match(call({ service: 'b.Any', method: 'PutThing' })), null)
  t.is(table.match(call({ service: 'c.Foo' }))?.name, 'star')
  t.is(table.match(call({ service: 'z.Z', headers: { 'x-tenant': 't1' } }))?.name, 'present')
  t.is(table.match(call({ service: 'z.Z' })), null)
})

test('a call whose method could not be read never matches a method route (fail closed); later routes still can', (t) => {
  t.is(table.match(call({ service: 'b.Any' })), null)
  t.is(table.match(call({ protocol: 'bolt', service: 'b.Any' })), null)
  const t2 = new RouteTable([
    r('get', { service: 'd.Svc', method: { prefix: 'get' } }),
    r('rest', { service: 'd.Svc' }),
  ])
  t.is(t2.match(call({ protocol: 'bolt', service: 'd.Svc' }))?.name, 'rest')
  t.is(t2.match(call({ protocol: 'bolt', service: 'd.Svc', method: 'getX' }))?.name, 'get')
})

test('the table says whether Bolt calls need their method read (a method match or requireMethod on a route Bolt can take)', (t) => {
  t.true(table.boltReadsMethod)
  t.false(new RouteTable([r('a', { service: 'a.Svc' })]).boltReadsMethod)
  t.false(new RouteTable([r('a', { protocol: 'triple', service: 'a.Svc', method: 'x' })]).boltReadsMethod)
  t.true(new RouteTable([r('a', { protocol: 'bolt', service: 'a.Svc', method: 'x' })]).boltReadsMethod)
  t.true(new RouteTable([{ ...r('a', { service: 'a.Svc' }), requireMethod: true }]).boltReadsMethod)
})
