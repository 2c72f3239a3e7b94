/**
 * Console security on the admin server (no browser): 401 without credentials for the page
 * and /v1/events, the CSP and other headers, the login (token check, Origin check, cookie
 * flags, Secure on TLS), a session reads but never writes, an admin client certificate gets
 * in without a login, bounded event watchers, and the revision history with its diff.
 */
import test from 'ava'
import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import pino from 'pino'
import { startAdminServer } from '../../admin/server.js'
import { renderDiff } from '../../admin/console/diff.js'
import { CONFIG_FILE_KEY } from '../../admin/console/history.js'
import { TlsMaterial } from '../../certs/tls-material.js'
import { limitTrips } from '../../gateway/metrics.js'
import { eventually } from '../_helpers/spawned-triple.js'
import { baseOptions, startAdmin, TOKEN } from '../_helpers/admin.js'
import { makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'

const logger = pino({ level: 'silent' })

async function login (url: string, token: string, origin: string | null = url): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (origin !== null) headers.origin = origin
  return fetch(`${url}/console/login`, { method: 'POST', headers, body: new URLSearchParams({ token }).toString(), redirect: 'manual' })
}

function cookieOf (r: Response): string | null {
  const c = r.headers.get('set-cookie')
  return c === null ? null : c.split(';')[0]
}

/** Status and first bytes of GET /v1/events (the stream is cancelled after them). */
async function events (url: string, headers: Record<string, string>): Promise<{ status: number, type: string | null, first: string }> {
  const r = await fetch(`${url}/v1/events`, { headers })
  if (r.status !== 200 || r.body === null) return { status: r.status, type: r.headers.get('content-type'), first: await r.text() }
  const reader = r.body.getReader()
  let text = ''
  while (!text.includes('event: state')) {
    const { done, value } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  await reader.cancel()
  return { status: r.status, type: r.headers.get('content-type'), first: text }
}

test('without credentials the console and /v1/events answer 401; the page sets a strict CSP', async (t) => {
  const h = await startAdmin(baseOptions())
  t.teardown(() => h.close())
  const page = await fetch(`${h.url}/console`)
  t.is(page.status, 401)
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/)
  const csp = page.headers.get('content-security-policy') ?? ''
  t.regex(csp, /script-src 'self'(;|$)/)
  t.regex(csp, /default-src 'none'/)
  t.regex(csp, /frame-ancestors 'none'/)
  t.false(/unsafe-inline|unsafe-eval|https?:/.test(csp), csp)
  t.is(page.headers.get('x-content-type-options'), 'nosniff')
  const html = await page.text()
  t.regex(html, /name="token"/, 'the login form')
  t.false(/<script(?![^>]*\ssrc=)[^>]*>[^<]/.test(html.replace(/<script type="application\/json"[^>]*>.*?<\/script>/gs, '')), 'no inline script')
  t.is((await events(h.url, {})).status, 401)
  t.is((await events(h.url, { cookie: 'isthmus_console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status, 401, 'an unknown session')
  t.is((await fetch(`${h.url}/console`, { headers: { authorization: 'Bearer nope' } })).status, 403)
  // The static assets are public (no secrets) and carry the same headers.
  const js = await fetch(`${h.url}/console/app.js`)
  t.is(js.status, 200)
  t.regex(js.headers.get('content-type') ?? '', /^text\/javascript/)
  t.is(js.headers.get('content-security-policy'), csp)
})

test('login: the token sets an HttpOnly SameSite=Strict session that reads but cannot write; cross-origin posts are refused', async (t) => {
  const h = await startAdmin(baseOptions())
  t.teardown(() => h.close())
  const bad = await login(h.url, 'wrong')
  t.is(bad.status, 401)
  t.is(cookieOf(bad), null)
  const foreign = await login(h.url, TOKEN, 'http://evil.example')
  t.is(foreign.status, 403)
  t.is(cookieOf(foreign), null)
  t.is((await login(h.url, TOKEN, null)).status, 403, 'no Origin: refused')
  const ok = await login(h.url, TOKEN)
  t.is(ok.status, 303)
  t.is(ok.headers.get('location'), '/console')
  const set = ok.headers.get('set-cookie') ?? ''
  t.regex(set, /; HttpOnly/)
  t.regex(set, /; SameSite=Strict/)
  t.false(/; Secure/.test(set), 'plain HTTP admin: no Secure flag')
  const cookie = cookieOf(ok)!
  t.regex(cookie, /^isthmus_console=[A-Za-z0-9_-]{43}$/)

  const page = await fetch(`${h.url}/console`, { headers: { cookie } })
  t.is(page.status, 200)
  t.regex(await page.text(), /id="panel-listeners"/)
  const ev = await events(h.url, { cookie })
  t.is(ev.status, 200)
  t.regex(ev.type ?? '', /^text\/event-stream/)
  t.regex(ev.first, /event: state\ndata: \{/)
  const cfg = await fetch(`${h.url}/v1/config`, { headers: { cookie } })
  t.is(cfg.status, 200)
  const text = await cfg.text()
  t.false(text.includes(TOKEN), 'the token is redacted')
  // Read-only: a session never writes.
  const put = await fetch(`${h.url}/v1/clusters/x`, { method: 'PUT', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ revision: 1, protocol: 'triple', hosts: [] }) })
  t.is(put.status, 401)
  t.is((await fetch(`${h.url}/v1/drain`, { method: 'POST', headers: { cookie } })).status, 401)
  // Logout ends the session.
  const out = await fetch(`${h.url}/console/logout`, { method: 'POST', headers: { cookie, origin: h.url }, redirect: 'manual' })
  t.is(out.status, 303)
  t.is((await fetch(`${h.url}/console`, { headers: { cookie } })).status, 401)
})

test('a TLS admin marks the cookie Secure; an admin client certificate opens the console without a login', async (t) => {
  const d = tempDir()
  t.teardown(d.remove)
  const caDir = await makeCa(d.dir, 'ops')
  const server = await makeLeaf(d.dir, caDir, 'ops', { app: 'gateway', server: true })
  const good = await makeLeaf(d.dir, caDir, 'ops', { app: 'admin-cli', client: true })
  const tls = { cert: server.cert, key: server.key, ca: server.ca, requireClientCert: true }
  const material = new TlsMaterial(tls, { baseDir: d.dir, logger, name: 'admin' })
  t.teardown(() => material.close())
  const s = await startAdminServer({
    logger, options: { host: '127.0.0.1', port: 0, tls, token: TOKEN, adminIdentities: ['ops/admin-cli'], maxBodyBytes: 1024 },
    tls: material.secureContextOptions(), isReady: () => true, listeners: () => ({}), drain: async () => {}, store: null,
  })
  t.teardown(() => s.close())
  const port = s.address.port
  const call = (method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders }> => new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method, headers, servername: 'localhost', ca: readFileSync(server.ca), cert: readFileSync(good.cert), key: readFileSync(good.key) }, res => {
      res.resume(); res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
    })
    req.on('error', reject)
    req.end(body)
  })
  t.is((await call('GET', '/console', {})).status, 200, 'the certificate is enough')
  const body = new URLSearchParams({ token: TOKEN }).toString()
  const r = await call('POST', '/console/login', { origin: `https://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) }, body)
  t.is(r.status, 303)
  t.regex(String(r.headers['set-cookie']), /; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure/)
})

test('event watchers are bounded: past maxEventClients the stream answers 503', async (t) => {
  const opts = baseOptions({ listeners: { triple: { port: 0 }, admin: { token: TOKEN, console: { maxEventClients: 2 } } } })
  const h = await startAdmin(opts)
  t.teardown(() => h.close())
  const auth = { authorization: `Bearer ${TOKEN}` }
  const open = await Promise.all([fetch(`${h.url}/v1/events`, { headers: auth }), fetch(`${h.url}/v1/events`, { headers: auth })])
  t.deepEqual(open.map(r => r.status), [200, 200])
  const third = await fetch(`${h.url}/v1/events`, { headers: auth })
  t.is(third.status, 503)
  t.is((await third.json() as { error: { code: string } }).error.code, 'ISTH_ERR_ADMIN_EVENTS_FULL')
  for (const r of open) await r.body?.cancel()
})

test('revisions: who and when per accepted write, a diff between any two kept generations, secrets redacted', async (t) => {
  const h = await startAdmin(baseOptions())
  t.teardown(() => h.close())
  const put = (rev: number, port: number): Promise<{ status: number, body: any }> => h.call('PUT', '/v1/clusters/payments', { revision: rev, protocol: 'triple', hosts: [{ address: '127.0.0.1', port }] })
  t.is((await put(1, 7001)).status, 200)
  t.is((await put(2, 7002)).status, 200)
  t.is((await put(3, 7003)).status, 200)
  const list = await h.call('GET', '/v1/revisions')
  t.is(list.status, 200)
  t.deepEqual(list.body.revisions.map((r: { generation: number }) => r.generation), [4, 3, 2, 1])
  t.is(list.body.revisions[0].who, 'token')
  t.deepEqual(list.body.revisions[0].keys, ['cluster/payments'])
  const d = await h.call('GET', '/v1/revisions/2/diff/4')
  t.is(d.status, 200)
  t.is(d.body.resources.length, 1)
  const lines: string[] = d.body.resources[0].hunks.flatMap((x: { lines: string[] }) => x.lines)
  t.true(lines.includes('-      "port": 7001,'), lines.join('\n'))
  t.true(lines.includes('+      "port": 7003,'), lines.join('\n'))
  t.is(d.body.resources[0].revisionBefore, 1)
  t.is(d.body.resources[0].revisionAfter, 3)
  t.is((await h.call('GET', '/v1/revisions/1/diff/99')).status, 404)
  t.is((await h.call('GET', '/v1/revisions/x/diff/2')).status, 400)
  // Secret-named settings of a pushed value are redacted in a diff, like GET /v1/config.
  const r = renderDiff([{ key: 'filter/auth', revisionBefore: null, revisionAfter: 1, before: null, after: { config: { clientSecret: 's3cr3t', passwordFile: '/etc/pw' } } }])
  const text = r[0].hunks.flatMap(x => x.lines).join('\n')
  t.false(text.includes('s3cr3t'))
  t.regex(text, /"clientSecret": "\[redacted\]"/)
  t.regex(text, /"passwordFile": "\/etc\/pw"/)
})

test('an event stream outlives the admin request deadline and keeps ticking', async (t) => {
  const opts = baseOptions({ listeners: { triple: { port: 0 }, admin: { token: TOKEN, limits: { headersTimeoutMs: 1000, requestTimeoutMs: 1000 }, console: { eventIntervalMs: 200 } } } })
  const h = await startAdmin(opts)
  t.teardown(() => h.close())
  const r = await fetch(`${h.url}/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.is(r.status, 200)
  const reader = r.body!.getReader()
  const started = Date.now()
  let states = 0
  let text = ''
  // Wait on events, not on a clock: past the 1 s request deadline (checked every second) the
  // stream must still deliver.
  while (states < 2 || Date.now() - started < 3500) {
    const { done, value } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
    states = text.split('event: state').length - 1
  }
  await reader.cancel().catch(() => {})
  t.true(Date.now() - started >= 3500, 'the stream was cut before the deadline passed')
  t.true(states >= 2)
})

test('a watcher that does not read is dropped once its unsent bytes pass the bound; the others keep getting events', async (t) => {
  // 60 clusters x 20 hosts: a state of ~150 KB, ten a second, fills a socket that is not read.
  const clusters = Array.from({ length: 60 }, (_, i) => ({ name: `c${i}`, protocol: 'triple', hosts: Array.from({ length: 20 }, (_, j) => ({ address: '127.0.0.1', port: 20000 + i * 20 + j, labels: { version: `v${j}`, team: `team-${i}` } })) }))
  const opts = baseOptions({ clusters, listeners: { triple: { port: 0 }, admin: { token: TOKEN, console: { eventIntervalMs: 100, maxEventBufferBytes: 256 * 1024 } } } })
  const h = await startAdmin(opts)
  t.teardown(() => h.close())
  const trips = limitTrips('admin', 'events_slow')
  const before = trips.n
  const port = Number(new URL(h.url).port)
  const slow = connect(port, '127.0.0.1')
  slow.on('error', () => {})
  let closed = false
  slow.on('close', () => { closed = true })
  slow.write(`GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`)
  slow.pause()
  t.teardown(() => slow.destroy())
  const good = await fetch(`${h.url}/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` } })
  const reader = good.body!.getReader()
  let received = 0
  const reading = (async () => { for (;;) { const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined })); if (done === true || value === undefined) return; received += value.length } })()
  t.true(await eventually(() => trips.n > before, 60000, 100), 'the slow watcher was dropped')
  slow.resume()
  t.true(await eventually(() => closed, 20000, 50), 'its connection is closed')
  const at = received
  t.true(await eventually(() => received > at, 20000, 50), 'the reading watcher still gets events')
  await reader.cancel().catch(() => {})
  await reading
})

test('a config reload is a revision too: its diff shows the file change with the admin token redacted', async (t) => {
  const base = baseOptions()
  const h = await startAdmin(base)
  t.teardown(() => h.close())
  const next = baseOptions({ clusters: [{ name: 'reloaded', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: 7100 }] }] })
  const r = await h.store.rebase(next)
  t.true(r.changed)
  const list = await h.call('GET', '/v1/revisions')
  t.is(list.body.revisions[0].who, 'config reload')
  t.deepEqual(list.body.revisions[0].keys, ['config file'])
  const d = await h.call('GET', `/v1/revisions/1/diff/${r.generation}`)
  t.is(d.status, 200)
  const text = JSON.stringify(d.body)
  t.regex(text, /reloaded/)
  t.false(text.includes(TOKEN), 'the admin token never appears in a diff')
  // The whole file shown (no earlier version): every line is in the diff, the token redacted.
  const whole = renderDiff([{ key: CONFIG_FILE_KEY, revisionBefore: null, revisionAfter: null, before: null, after: next }])
  const lines = whole[0].hunks.flatMap(x => x.lines).join('\n')
  t.regex(lines, /"token": "\[redacted\]"/)
  t.false(lines.includes(TOKEN))
})

test('a change adopted from Redis is a revision of its own, named after the replica that made it', async (t) => {
  const h = await startAdmin(baseOptions())
  t.teardown(() => h.close())
  t.is((await h.call('PUT', '/v1/clusters/remote', { revision: 1, protocol: 'triple', hosts: [{ address: '127.0.0.1', port: 7200 }] })).status, 200)
  // What another replica's write of revision 2 looks like when it arrives from Redis.
  const mine = h.store.entry('cluster/remote')!
  const theirs = structuredClone(mine.value) as { hosts: Array<{ port: number }> }
  theirs.hosts[0].port = 7201
  await h.store.adoptRemote(new Map([['cluster/remote', { revision: 2, value: theirs, origin: 'node-b', at: Date.now() }]]))
  const list = await h.call('GET', '/v1/revisions')
  t.is(list.body.revisions[0].who, 'redis node-b')
  t.deepEqual(list.body.revisions[0].keys, ['cluster/remote'])
  t.is(list.body.revisions[1].who, 'token')
  const d = await h.call('GET', `/v1/revisions/${list.body.revisions[1].generation}/diff/${list.body.generation}`)
  const lines: string[] = d.body.resources[0].hunks.flatMap((x: { lines: string[] }) => x.lines)
  t.true(lines.some(l => l.startsWith('+') && l.includes('7201')), lines.join('\n'))
})
