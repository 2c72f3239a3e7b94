/**
 * Admin API against hostile requests (issue 9 item 13): media types, the no-token mode's
 * Host/Origin rule, bad escapes, names, revision bounds, internal errors kept internal,
 * nesting bounds, and the admin server's socket bounds.
 */
import test from 'ava'
import { request } from 'node:http'
import { connect } from 'node:net'
import pino from 'pino'
import { startAdminServer, type AdminDeps } from '../../admin/server.js'
import { resourceKey } from '../../admin/effective.js'
import { limitTrips } from '../../gateway/metrics.js'
import type { GatewayOptions } from '../../gateway/config/options.js'
import { baseOptions, startAdmin, TOKEN, type AdminHarness } from '../_helpers/admin.js'

interface RawReply { status: number, body: any }

/** One HTTP request with exactly these headers (fetch would add or refuse some). */
function raw (url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawReply> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers, setHost: headers.host === undefined }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const auth = { authorization: `Bearer ${TOKEN}` }
const routesBody = (revision: number | string): string => `{"revision":${revision},"routes":[]}`

async function admin (t: import('ava').ExecutionContext, base: GatewayOptions = baseOptions()): Promise<AdminHarness> {
  const a = await startAdmin(base)
  t.teardown(() => a.close())
  return a
}

test('writes need application/json: text/plain, form and untyped bodies get 415 and change nothing', async t => {
  const a = await admin(t)
  const gen = a.store.generation
  for (const [ct, body] of [['text/plain', routesBody(1)], ['application/x-www-form-urlencoded', 'revision=1'], ['multipart/form-data; boundary=x', '--x--'], [undefined, routesBody(1)]] as const) {
    const headers: Record<string, string> = { ...auth }
    if (ct !== undefined) headers['content-type'] = ct
    const r = await raw(a.url, 'PUT', '/v1/routes', headers, body)
    t.is(r.status, 415, `${ct ?? '(none)'}: ${JSON.stringify(r.body)}`)
    t.is(r.body.error.code, 'ISTH_ERR_ADMIN_MEDIA_TYPE')
  }
  // A form POST with an empty body (what a <form> sends) is refused too.
  t.is((await raw(a.url, 'POST', '/v1/drain', { ...auth, 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' })).status, 415)
  t.is(a.store.generation, gen)
  // JSON with parameters is fine, and a write without a body needs no content type.
  t.is((await raw(a.url, 'PUT', '/v1/routes', { ...auth, 'content-type': 'Application/JSON; charset=utf-8' }, routesBody(2))).status, 200)
  t.is((await raw(a.url, 'DELETE', `/v1/discovery/apps/nope?revision=1`, { ...auth })).status, 404)
  t.is((await raw(a.url, 'POST', '/v1/drain', { ...auth })).status, 200)
})

test('no-token loopback mode: a foreign Host or Origin (DNS rebinding, CSRF) is refused, local tools pass', async t => {
  let drains = 0
  const s = await startAdminServer({
    logger: pino({ level: 'silent' }),
    options: { host: '127.0.0.1', port: 0, maxBodyBytes: 1024 },
    tls: null,
    isReady: () => true,
    listeners: () => ({}),
    drain: async () => { drains++ },
    store: null,
  } satisfies AdminDeps)
  t.teardown(() => s.close())
  const url = `http://127.0.0.1:${s.address.port}`
  const port = s.address.port
  const refused: Array<Record<string, string>> = [
    { host: 'evil.example', origin: 'http://evil.example' },
    { host: 'evil.example' },
    { host: `127.0.0.1:${port}`, origin: 'http://evil.example' },
    { host: `127.0.0.1:${port}`, origin: 'null' },
    { host: `127.0.0.1.evil.example:${port}` },
    { host: `localhost:${port}`, origin: 'http://localhost.evil.example' },
  ]
  for (const h of refused) {
    const r = await raw(url, 'POST', '/v1/drain', h)
    t.is(r.status, 403, JSON.stringify(h))
    t.is(r.body.error.code, 'ISTH_ERR_ADMIN_FORBIDDEN')
    t.regex(r.body.error.message, /Host and Origin are loopback/)
    t.is((await raw(url, 'GET', '/v1/listeners', h)).status, 403, `read with ${JSON.stringify(h)}`)
  }
  t.is(drains, 0)
  const local: Array<Record<string, string>> = [{ host: `127.0.0.1:${port}` }, { host: `localhost:${port}`, origin: `http://localhost:${port}` }, { host: `[::1]:${port}`, origin: 'http://[::1]:3000' }, { host: '127.0.0.1' }]
  for (const h of local) {
    t.is((await raw(url, 'POST', '/v1/drain', h)).status, 200, JSON.stringify(h))
  }
  t.is(drains, 4)
  // The open endpoints stay open.
  t.is((await raw(url, 'GET', '/ready', { host: 'evil.example' })).status, 200)
})

test('a malformed %-escape in a path is 400, not 500', async t => {
  const a = await admin(t)
  for (const path of ['/v1/clusters/%E0%A4%A', '/v1/discovery/apps/%', '/v1/filters/%zz']) {
    const r = await raw(a.url, 'GET', path, auth)
    t.is(r.status, 400, path)
    t.is(r.body.error.code, 'ISTH_ERR_ADMIN_BAD_REQUEST')
  }
})

test('every name is validated: service, app, cluster and filter names with /, .., NUL or newline get 400', async t => {
  const a = await admin(t)
  const gen = a.store.generation
  const provider = { revision: 1, app: 'pay', providers: [{ address: '127.0.0.1', port: 9000 }] }
  const json = { ...auth, 'content-type': 'application/json' }
  const bad = ['..%2F..%2Ftmp%2Fx', 'a%00b', 'a%0Ab', '%20lead', 'a:b']
  for (const name of bad) {
    for (const [method, path, body] of [
      ['PUT', `/v1/discovery/services/${name}`, provider],
      ['PUT', `/v1/discovery/apps/${name}`, { revision: 1, instances: [] }],
      ['PUT', `/v1/clusters/${name}`, { revision: 1, protocol: 'triple' }],
      ['PUT', `/v1/filters/${name}`, { revision: 1, enabled: false }],
      ['GET', `/v1/discovery/services/${name}`, undefined],
    ] as const) {
      if (name === 'a:b' && path.startsWith('/v1/clusters/')) continue // `app:protocol` is a cluster name
      if (name === 'a:b' && path.startsWith('/v1/filters/')) continue
      const r = await raw(a.url, method, path, json, body === undefined ? undefined : JSON.stringify(body))
      t.is(r.status, 400, `${method} ${path}: ${JSON.stringify(r.body)}`)
      t.is(r.body.error.code, 'ISTH_ERR_ADMIN_BAD_REQUEST', `${method} ${path}`)
      t.notRegex(r.body.error.message, /[\u0000\n]/)
    }
  }
  // Names inside bodies follow the same rules.
  const inBody = await a.call('PUT', '/v1/discovery/apps/shop', { revision: 1, instances: [{ address: '127.0.0.1', port: 9000, services: ['../x'] }], services: [{ name: 'a\u0000b' }] })
  t.is(inBody.status, 400)
  t.regex(inBody.body.error.path, /^\/(instances\/0\/services\/0|services\/0\/name)$/)
  const addr = await a.call('PUT', '/v1/discovery/services/svc.A', { revision: 1, app: 'pay', providers: [{ address: '10.0.0.1/32', port: 9000 }] })
  t.is(addr.status, 400)
  t.is(addr.body.error.path, '/providers/0/address')
  t.is(a.store.generation, gen)
  // A valid interface name still works.
  t.is((await a.call('PUT', '/v1/discovery/services/com.acme.Outer$Inner', provider)).status, 200)
})

test('revisions are bounded by 2^53-1: 1e308, 1e400, 2^53+1 and ?revision=1e308 are refused, nothing gets locked', async t => {
  const a = await admin(t)
  const gen = a.store.generation
  for (const rev of ['1e308', '1e400', '9007199254740993', '-1', '1.5']) {
    const r = await raw(a.url, 'PUT', '/v1/routes', { ...auth, 'content-type': 'application/json' }, routesBody(rev))
    t.is(r.status, 400, `${rev}: ${JSON.stringify(r.body)}`)
    t.is(r.body.error.path, '/revision')
    const app = await raw(a.url, 'PUT', '/v1/discovery/apps/shop', { ...auth, 'content-type': 'application/json' }, `{"revision":${rev},"instances":[]}`)
    t.is(app.status, 400, rev)
  }
  t.is(a.store.generation, gen)
  for (const q of ['1e308', '9007199254740993', 'Infinity', '0x10', '', ' 1']) {
    const r = await raw(a.url, 'DELETE', `/v1/discovery/apps/shop?revision=${encodeURIComponent(q)}`, auth)
    t.is(r.status, 400, `?revision=${q}`)
  }
  // The largest exact revision is accepted, and the resource is not locked: the same revision
  // again is a replay and an older one a 409, as always.
  const max = Number.MAX_SAFE_INTEGER
  t.is((await a.call('PUT', '/v1/routes', { revision: max - 1, routes: [] })).status, 200)
  t.is((await a.call('PUT', '/v1/routes', { revision: max, routes: [] })).status, 200)
  t.is((await a.call('PUT', '/v1/routes', { revision: 5, routes: [] })).status, 409)
  // The store refuses an out-of-range revision from any caller, not only from the schema.
  await t.throwsAsync(a.store.write('ldc', Infinity, () => ({ uid: {}, table: [] })), { code: 'ISTH_ERR_CONFIG_INVALID' })
  await t.throwsAsync(a.store.write(resourceKey('app', 'x'), 2 ** 53, () => ({ instances: [], services: [] })), { code: 'ISTH_ERR_CONFIG_INVALID' })
})

test('body errors name the resource; internal errors are logged with a reference, never echoed', async t => {
  const a = await admin(t)
  const bad = await a.call('PUT', '/v1/discovery/apps/payments', { revision: 1, instances: [{ address: '127.0.0.1', port: 70000 }] })
  t.is(bad.status, 400)
  t.is(bad.body.error.code, 'ISTH_ERR_CONFIG_INVALID')
  t.is(bad.body.error.message, 'invalid app payments: /instances/0/port: must be <= 65535')
  t.is(bad.body.error.path, '/instances/0/port')
  const cl = await a.call('PUT', '/v1/clusters/greeter', { revision: 1, protocol: 'smtp' })
  t.regex(cl.body.error.message, /^invalid cluster greeter: \/protocol: must be one of/)
  const conflict = await a.call('PUT', '/v1/routes', { revision: 3, routes: [] })
  t.is(conflict.status, 200)
  const stale = await a.call('PUT', '/v1/routes', { revision: 2, routes: [] })
  t.is(stale.body.error.message, 'stale revision: routes: revision 2 is older than the stored 3')

  // An internal failure (here: the compiler throws a plain Error carrying a secret).
  let compiles = 0
  const h = await startAdmin(baseOptions(), {
    compile: async (o, rev, prev) => {
      if (++compiles > 1) throw new Error('cannot open /var/secret/db.key: password hunter2')
      const { compileSnapshot } = await import('../../gateway/config/compile.js')
      const { HostRegistry } = await import('../../gateway/cluster/host.js')
      return await compileSnapshot(o, rev, { hosts: new HostRegistry(), logger: pino({ level: 'silent' }), baseDir: process.cwd(), nodeId: 'n' }, prev)
    },
  })
  t.teardown(() => h.close())
  const r = await h.call('PUT', '/v1/routes', { revision: 1, routes: [] })
  t.is(r.status, 500)
  t.is(r.body.error.code, 'ISTH_ERR_INTERNAL')
  t.notRegex(JSON.stringify(r.body), /hunter2|secret/)
  t.regex(r.body.error.message, /^internal error: see the gateway log \(ref [0-9a-z]+-[0-9a-z]+\)$/)
})

test('deeply nested bodies are refused with 400 before they are parsed', async t => {
  const a = await admin(t, baseOptions({ filters: [{ name: 'headers', config: {} }] }))
  const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)
  const r = await raw(a.url, 'PUT', '/v1/filters/headers', { ...auth, 'content-type': 'application/json' }, `{"revision":1,"config":${deep}}`)
  t.is(r.status, 400)
  t.regex(r.body.error.message, /nests deeper than 64 levels/)
  // Brackets inside strings do not count.
  const r2 = await a.call('PUT', '/v1/filters/headers', { revision: 2, config: { request: { set: { 'x-a': '[[[[[[[[{{{{{{{{'.repeat(20) } } } })
  t.is(r2.status, 200, JSON.stringify(r2.body))
})

test('admin socket bounds: a silent or trickling client is closed at the headers deadline, connections are capped', async t => {
  const trips = limitTrips('admin', 'headers')
  const drops = limitTrips('admin', 'connections')
  const before = { headers: trips.n, drops: drops.n }
  const s = await startAdminServer({
    logger: pino({ level: 'silent' }),
    options: { host: '127.0.0.1', port: 0, maxBodyBytes: 1024, token: 't', limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 3 } },
    tls: null,
    isReady: () => true,
    listeners: () => ({}),
    drain: async () => {},
    store: null,
  })
  t.teardown(() => s.close())
  const open = (): Promise<{ closedAt: Promise<number>, openedAt: number, data: () => string, write: (s: string) => void }> => new Promise((resolve, reject) => {
    // (every socket here ends: closed by the server, at the latest at its headers deadline)
    // Taken before connecting: the server cannot accept earlier, while our 'connect' event can
    // run late on a loaded machine (a bound measured from it would look broken too soon).
    const openedAt = Date.now()
    const sock = connect(s.address.port, '127.0.0.1')
    let data = ''
    sock.setEncoding('utf8')
    sock.on('data', (c: string) => { data += c })
    sock.on('error', () => {})
    // Ended by the server: 'end' (its FIN) or 'close' (a reset), whichever comes first.
    const closedAt = new Promise<number>(r => { sock.on('end', () => r(Date.now())); sock.on('close', () => r(Date.now())) })
    sock.on('connect', () => resolve({ closedAt, openedAt, data: () => data, write: (x: string) => sock.write(x) }))
    sock.on('error', reject)
  })
  // Trickles a header line byte by byte, never finishing the headers.
  const slow = await open()
  slow.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  const trickle = setInterval(() => slow.write('x'), 50)
  t.teardown(() => clearInterval(trickle))
  const silent = await open()
  const closedSlow = await slow.closedAt
  clearInterval(trickle)
  const closedSilent = await silent.closedAt
  // Not before its bound (no upper wall-clock bound: the machine may be loaded).
  t.true(closedSlow - slow.openedAt >= 250, `closed after ${closedSlow - slow.openedAt} ms`)
  t.true(closedSilent - silent.openedAt >= 250, `closed after ${closedSilent - silent.openedAt} ms`)
  t.regex(slow.data(), /^HTTP\/1\.1 408/)
  t.true(trips.n >= before.headers + 2, `headers trips ${trips.n - before.headers}`)
  // Cap of 3: the 4th concurrent connection is dropped at once and counted; the held ones
  // are still served.
  const held = await Promise.all([open(), open(), open()])
  const extra = await open()
  await extra.closedAt
  t.true(drops.n >= before.drops + 1, `connection drops ${drops.n - before.drops}`)
  held[0].write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
  await held[0].closedAt
  t.regex(held[0].data(), /^HTTP\/1\.1 200 OK/)
})
