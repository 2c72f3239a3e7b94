/**
 * Issue 9, item 13: the admin API refuses what a browser or a confused client can send:
 * writes that are not JSON (415), cross-site requests in the loopback no-token mode (403),
 * bad escapes and names (400), revisions past 2^53-1 (400) that would lock a resource.
 * Two gateways: one with a token, one in the open loopback mode.
 */
import test from 'ava'
import { HostileGateway, hostileSuite, httpCall } from '../_helpers/hostile.js'

const withToken = hostileSuite(test, {})
const open = hostileSuite(test, { admin: { token: undefined } })

const LDC = (revision: number | string): string => `{"revision": ${revision}, "table": [{"from": 0, "to": 99, "zone": "z1"}]}`

test.serial('item 13: writes with a text/plain, form or missing content type are refused with 415 and change nothing', async (t) => {
  const gw = withToken.gw
  const mark = await gw.mark()
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
    const headers: Record<string, string> = { authorization: 'Bearer hostile-admin-token' }
    if (type !== undefined) headers['content-type'] = type
    const r = await httpCall(gw.adminPort, 'PUT', '/v1/ldc', { headers, body: LDC(1) })
    t.is(r.status, 415, `${type ?? '(no content-type)'}: ${r.status} ${r.body}`)
  }
  t.is((await gw.admin('GET', '/v1/ldc')).status, 404, 'the LDC table was never written')
  const ok = await gw.admin('PUT', '/v1/ldc', LDC(1), { 'content-type': 'application/json; charset=utf-8' })
  t.is(ok.status, 200, `application/json is accepted: ${ok.body}`)
  await gw.expectRecovered(t, mark, 'non-JSON writes')
})

test.serial('item 13: a malformed % escape in a path is a 400, not a 500', async (t) => {
  const gw = withToken.gw
  const mark = await gw.mark()
  for (const [method, path, body] of [['GET', '/v1/clusters/%E0%A4%A', undefined], ['PUT', '/v1/discovery/services/a%ZZb', '{"revision": 1, "app": "app1", "providers": []}'], ['DELETE', '/v1/discovery/apps/%?revision=1', undefined]] as const) {
    const r = await gw.admin(method, path, body)
    t.is(r.status, 400, `${method} ${path}: ${r.status} ${r.body}`)
  }
  await gw.expectRecovered(t, mark, 'bad escapes')
})

test.serial('item 13: service names in PUT /v1/discovery/services/{service} are validated like app names (../../tmp/x, NUL, newline: 400)', async (t) => {
  const gw = withToken.gw
  const mark = await gw.mark()
  for (const name of ['..%2F..%2Ftmp%2Fx', 'a%00b', 'a%0Ab', 'a%2Fb', 'a%20b']) {
    const r = await gw.admin('PUT', `/v1/discovery/services/${name}`, '{"revision": 1, "app": "app1", "providers": []}')
    t.is(r.status, 400, `${decodeURIComponent(name)}: ${r.status} ${r.body}`)
  }
  const ok = await gw.admin('PUT', '/v1/discovery/services/com.example.Fine', '{"revision": 1, "app": "app1", "providers": []}')
  t.is(ok.status, 200, `a plain service name is accepted: ${ok.body}`)
  await gw.expectRecovered(t, mark, 'bad service names')
})

test.serial('item 13: revisions 1e308, 1e400 and 2^53+1 are refused with 400 (never stored: the resource stays writable)', async (t) => {
  const gw = withToken.gw
  const mark = await gw.mark()
  for (const rev of ['1e308', '1e400', '9007199254740993']) {
    const r = await gw.admin('PUT', '/v1/ldc', LDC(rev))
    t.is(r.status, 400, `revision ${rev}: ${r.status} ${r.body}`)
    const d = await gw.admin('DELETE', `/v1/discovery/apps/app1?revision=${rev}`)
    t.is(d.status, 400, `DELETE ?revision=${rev}: ${d.status} ${d.body}`)
  }
  const next = await gw.admin('PUT', '/v1/ldc', LDC(7))
  t.is(next.status, 200, `a normal revision is still accepted: ${next.body}`)
  await gw.expectRecovered(t, mark, 'huge revisions')
})

/** The open (no token, loopback) admin: what a web page in a browser on the same host can send. */
async function crossSite (gw: HostileGateway, method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  const h: Record<string, string> = { ...headers }
  if (body !== undefined) h['content-type'] = 'application/json'
  const host = h.host
  delete h.host
  return (await httpCall(gw.adminPort, method, path, { headers: h, body, host })).status
}

test.serial('item 13: loopback no-token mode: requests with a foreign Origin or Host are refused (403); loopback Origin/Host pass', async (t) => {
  const gw = open.gw
  const mark = await gw.mark()
  const port = gw.adminPort
  t.is(await crossSite(gw, 'PUT', '/v1/ldc', { origin: 'http://evil.example' }, LDC(1)), 403, 'foreign Origin, write')
  t.is(await crossSite(gw, 'GET', '/v1/config', { origin: 'http://evil.example' }), 403, 'foreign Origin, read')
  t.is(await crossSite(gw, 'PUT', '/v1/ldc', { host: 'evil.example' }, LDC(1)), 403, 'foreign Host (DNS rebinding), write')
  t.is(await crossSite(gw, 'GET', '/v1/config', { host: `evil.example:${port}` }), 403, 'foreign Host, read')
  t.is((await gw.admin('GET', '/v1/ldc')).status, 404, 'nothing was written')
  t.is(await crossSite(gw, 'GET', '/v1/listeners', { host: `127.0.0.1:${port}` }), 200, 'loopback Host')
  t.is(await crossSite(gw, 'GET', '/v1/listeners', { host: `localhost:${port}`, origin: `http://localhost:${port}` }), 200, 'loopback Origin')
  t.is(await crossSite(gw, 'PUT', '/v1/ldc', { host: `127.0.0.1:${port}` }, LDC(1)), 200, 'a local write works in the open mode')
  await gw.expectRecovered(t, mark, 'cross-site admin requests')
})

test.serial('item 13: loopback no-token mode: a web page\'s POST /v1/drain (foreign Origin) is refused and the gateway keeps serving', async (t) => {
  const gw = open.gw
  const mark = await gw.mark()
  t.is(await crossSite(gw, 'POST', '/v1/drain', { origin: 'http://evil.example', 'content-type': 'text/plain' }), 403)
  t.is(await crossSite(gw, 'POST', '/v1/drain', { host: 'evil.example' }), 403)
  t.is((await httpCall(gw.adminPort, 'GET', '/ready')).status, 200, 'not drained')
  await gw.expectRecovered(t, mark, 'a cross-site drain')
})
