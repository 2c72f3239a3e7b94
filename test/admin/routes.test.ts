import test from 'ava'
import { baseOptions, startAdmin, TOKEN } from '../_helpers/admin.js'

const cluster = (name: string, ports: number[]) => ({ name, protocol: 'triple', hosts: ports.map(p => ({ address: '127.0.0.1', port: p })) })

function base () {
  return baseOptions({
    clusters: [cluster('static', [9001])],
    routes: [{ name: 'r1', match: { service: 'svc.A' }, cluster: 'static' }],
    filters: [{ name: 'headers', config: { request: { set: { 'x-a': '1' } } } }],
    ldc: { table: [{ from: 0, to: 99, zone: 'gz00a' }] },
    policies: { default: 'allow' },
  })
}

// Every endpoint: [method, path, good body, bad body + expected error path]
const writes: Array<{ name: string, method: string, path: string, good: (rev: number) => unknown, bad: unknown, badPath: string }> = [
  { name: 'cluster', method: 'PUT', path: '/v1/clusters/c2', good: rev => ({ revision: rev, ...cluster('c2', [9100 + rev]) }), bad: { revision: 1, protocol: 'triple', lb: { policy: 'fastest' } }, badPath: '/lb/policy' },
  { name: 'hosts', method: 'PATCH', path: '/v1/clusters/static/hosts', good: rev => ({ revision: rev, add: [{ address: '127.0.0.1', port: 9200 + rev }] }), bad: { revision: 1, add: [{ address: '127.0.0.1', port: 'x' }] }, badPath: '/add/0/port' },
  { name: 'app', method: 'PUT', path: '/v1/discovery/apps/billing', good: rev => ({ revision: rev, instances: [{ address: '127.0.0.1', port: 9300 + rev }], services: [{ name: 'svc.Bill' }] }), bad: { revision: 1, instances: [{ address: '127.0.0.1' }] }, badPath: '/instances/0/port' },
  { name: 'service', method: 'PUT', path: '/v1/discovery/services/svc.Pay', good: rev => ({ revision: rev, app: 'pay', providers: [{ address: '127.0.0.1', port: 9400 + rev }] }), bad: { revision: 1, app: 'pay', providers: [{ address: '127.0.0.1', port: 1, zone: 5 }] }, badPath: '/providers/0/zone' },
  { name: 'routes', method: 'PUT', path: '/v1/routes', good: rev => ({ revision: rev, routes: [{ name: 'r1', match: { service: `svc.A${rev}` }, cluster: 'static' }] }), bad: { revision: 1, routes: [{ name: 'r', match: {}, cluster: 'static', timeoutMs: -1 }] }, badPath: '/routes/0/timeoutMs' },
  { name: 'ldc', method: 'PUT', path: '/v1/ldc', good: rev => ({ revision: rev, table: [{ from: 0, to: 99, zone: `gz0${rev}` }] }), bad: { revision: 1, table: [{ from: 0, to: 100, zone: 'x' }] }, badPath: '/table/0/to' },
  { name: 'policies', method: 'PUT', path: '/v1/policies', good: rev => ({ revision: rev, default: 'allow', rules: [{ name: `p${rev}`, action: 'deny' }] }), bad: { revision: 1, default: 'maybe' }, badPath: '/default' },
  { name: 'filter', method: 'PUT', path: '/v1/filters/headers', good: rev => ({ revision: rev, config: { request: { set: { 'x-a': String(rev) } } } }), bad: { revision: 1, config: { request: { set: { ':path': '/x' } } } }, badPath: '/config/request/set/:path' },
]

for (const w of writes) {
  test(`${w.name}: success, 401, 403, GET never mutates, 400 with path, 409, 413`, async t => {
    const a = await startAdmin(base())
    t.teardown(() => a.close())
    const gen0 = a.store.generation
    // unauthenticated and wrong token
    t.is((await a.call(w.method, w.path, w.good(1), null)).status, 401)
    t.is((await a.call(w.method, w.path, w.good(1), 'wrong')).status, 403)
    t.is(a.store.generation, gen0)
    // GET on the same path never mutates (either a read or 405)
    const g = await a.call('GET', w.path, undefined)
    t.true([200, 404, 405].includes(g.status))
    t.is(a.store.generation, gen0)
    // bad body -> 400 with the path of the first error
    const bad = await a.call(w.method, w.path, w.bad)
    t.is(bad.status, 400, JSON.stringify(bad.body))
    t.is(bad.body.error.code, 'ISTH_ERR_CONFIG_INVALID')
    t.is(bad.body.error.path, w.badPath)
    t.is(a.store.generation, gen0)
    // success
    const ok = await a.call(w.method, w.path, w.good(5))
    t.is(ok.status, 200, JSON.stringify(ok.body))
    t.true(ok.body.changed)
    t.is(a.store.generation, gen0 + 1)
    t.is(a.applied.length, 1)
    // same revision, same content: a replay, no change
    const replay = await a.call(w.method, w.path, w.good(5))
    t.is(replay.status, 200)
    t.false(replay.body.changed)
    // stale revision -> 409
    const stale = await a.call(w.method, w.path, w.good(4))
    t.is(stale.status, 409)
    t.is(stale.body.error.code, 'ISTH_ERR_ADMIN_REVISION_CONFLICT')
    t.is(a.store.generation, gen0 + 1)
    // oversize -> 413
    const big = await a.call(w.method, w.path, { revision: 9, pad: 'x'.repeat(70 * 1024) })
    t.is(big.status, 413)
    t.is(a.store.generation, gen0 + 1)
  })
}

test('GET endpoints read what was written', async t => {
  const a = await startAdmin(base())
  t.teardown(() => a.close())
  t.is((await a.call('PUT', '/v1/clusters/c2', { revision: 3, ...cluster('c2', [9500]) })).status, 200)
  const c = await a.call('GET', '/v1/clusters/c2')
  t.is(c.status, 200)
  t.is(c.body.revision, 3)
  t.is(c.body.source, 'admin')
  t.deepEqual(c.body.cluster.hosts.map((h: { port: number }) => h.port), [9500])
  const list = await a.call('GET', '/v1/clusters')
  t.deepEqual(list.body.clusters.map((x: { name: string }) => x.name).sort(), ['c2', 'static'])
  t.is((await a.call('GET', '/v1/clusters/nope')).status, 404)
  t.is((await a.call('GET', '/v1/filters/nope')).status, 404)
  t.is((await a.call('PUT', '/v1/filters/nope', { revision: 1, config: {} })).status, 404)
  const f = await a.call('GET', '/v1/filters/headers')
  t.deepEqual(f.body.config, { request: { set: { 'x-a': '1' } } })
  t.is((await a.call('GET', '/v1/ldc')).body.ldc.table[0].zone, 'gz00a')
  t.is((await a.call('GET', '/v1/policies')).body.policies.default, 'allow')
  t.is((await a.call('GET', '/v1/routes')).body.routes[0].name, 'r1')
  // DELETE with a revision; deleting a cluster a route uses is refused (400, path)
  const del = await a.call('DELETE', '/v1/clusters/static?revision=1')
  t.is(del.status, 400)
  t.is(del.body.error.path, '/routes/0/cluster')
  t.is((await a.call('DELETE', '/v1/clusters/c2?revision=4')).status, 200)
  t.is((await a.call('GET', '/v1/clusters/c2')).status, 404)
  // an older PUT after the delete is refused
  t.is((await a.call('PUT', '/v1/clusters/c2', { revision: 3, ...cluster('c2', [9501]) })).status, 409)
  t.is((await a.call('DELETE', '/v1/clusters/never?revision=1')).status, 404)
})

test('GET /v1/config redacts secrets', async t => {
  const o = baseOptions({ redis: { url: 'redis://user:hunter2@127.0.0.1:6379/0' }, filters: [{ name: 'headers', config: { request: { set: { 'x-a': '1' } } } }] })
  const a = await startAdmin(o)
  t.teardown(() => a.close())
  const r = await a.call('GET', '/v1/config')
  t.is(r.status, 200)
  const text = JSON.stringify(r.body)
  t.false(text.includes(TOKEN))
  t.false(text.includes('hunter2'))
  t.is(r.body.config.listeners.admin.token, '[redacted]')
  t.regex(r.body.config.redis.url, /^redis:\/\/user:/)
  t.is((await a.call('PUT', '/v1/config', {})).status, 405)
})

test('filter settings that look secret are redacted in GET /v1/config and GET /v1/filters/{name}', async t => {
  const o = baseOptions({ filters: [{ name: 'headers', config: { request: { set: { 'x-api-token': 'tok-s3cret', 'x-callback': 'https://svc:pw-s3cret@example.com/cb', 'x-plain': 'visible' } } } }] })
  const a = await startAdmin(o)
  t.teardown(() => a.close())
  for (const path of ['/v1/config', '/v1/filters/headers']) {
    const r = await a.call('GET', path)
    t.is(r.status, 200)
    const text = JSON.stringify(r.body)
    t.false(text.includes('s3cret'), path)
    t.true(text.includes('visible'), path)
    t.true(text.includes('https://svc:'), `${path}: the URL stays readable, its password goes`)
  }
})

test('a body that is not JSON is a 400', async t => {
  const a = await startAdmin(base())
  t.teardown(() => a.close())
  const r = await a.call('PUT', '/v1/ldc', '{not json')
  t.is(r.status, 400)
  t.is(r.body.error.path, '/')
})
