/**
 * The console login's brute-force bound over real HTTP (fetch; a second source address through
 * undici's localAddress): past `loginMaxFailures` refused tokens a source gets 429 with
 * Retry-After, even with the right token, counted in isthmus_limit_trips_total{limit=
 * "login_failures"} (serial: the counter is process-wide); another source is unaffected; a successful login clears the count; the
 * window ends and the source may log in again. Plus the /64 keying of IPv6 sources.
 */
import test from 'ava'
import { Agent, buildConnector } from 'undici'
import { sourceKey } from '../../admin/console/login-limit.js'
import { limitTrips } from '../../gateway/metrics.js'
import { baseOptions, startAdmin, TOKEN } from '../_helpers/admin.js'

const TRIPS = limitTrips('admin', 'login_failures')

/** A login POST from `localAddress` (a loopback address) with `token`. */
async function login (url: string, token: string, localAddress = '127.0.0.1'): Promise<Response> {
  // The connector takes the local address per connection (Agent's `connect` options do not pass it on).
  const base = buildConnector({})
  const dispatcher = new Agent({ connect: (opts, cb) => base({ ...opts, localAddress }, cb) })
  try {
    const r = await fetch(`${url}/console/login`, {
      method: 'POST', redirect: 'manual', body: new URLSearchParams({ token }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url },
      // Node's fetch takes undici's dispatcher (not in the DOM RequestInit type).
      ...({ dispatcher } as object),
    })
    await r.text()
    return r
  } finally {
    await dispatcher.close()
  }
}

function consoleOpts (more: Record<string, number>): ReturnType<typeof baseOptions> {
  return baseOptions({ listeners: { triple: { port: 0 }, admin: { token: TOKEN, console: more } } })
}

test.serial('past loginMaxFailures a source gets 429 with Retry-After, even with the right token; other sources and successful logins are unaffected', async t => {
  const h = await startAdmin(consoleOpts({ loginMaxFailures: 3, loginWindowMs: 600000 }))
  t.teardown(() => h.close())
  // Successful logins do not count, and one clears the refusals before it.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 2; i++) t.is((await login(h.url, 'wrong')).status, 401)
    t.is((await login(h.url, TOKEN)).status, 303, `round ${round}: two refusals, then the right token logs in`)
  }
  const before = TRIPS.n
  for (let i = 0; i < 3; i++) t.is((await login(h.url, `wrong-${i}`)).status, 401)
  const throttled = await login(h.url, 'wrong')
  t.is(throttled.status, 429)
  const after = Number(throttled.headers.get('retry-after'))
  t.true(Number.isInteger(after) && after > 0 && after <= 600, `Retry-After: ${throttled.headers.get('retry-after')}`)
  const right = await login(h.url, TOKEN)
  t.is(right.status, 429, 'a throttled source is refused before its token is looked at')
  t.is(right.headers.get('set-cookie'), null)
  t.is(TRIPS.n - before, 2)
  // Another source address is not throttled.
  t.is((await login(h.url, TOKEN, '127.0.0.2')).status, 303)
  t.is((await login(h.url, 'wrong', '127.0.0.2')).status, 401)
  // The scrape shows the trips.
  const metrics = await (await fetch(`${h.url}/metrics`)).text()
  t.regex(metrics, /isthmus_limit_trips_total\{listener="admin",limit="login_failures"\} [1-9]/)
})

test.serial('the window ends: a throttled source may log in again', async t => {
  const h = await startAdmin(consoleOpts({ loginMaxFailures: 2, loginWindowMs: 300 }))
  t.teardown(() => h.close())
  // Refuse until throttled (on a busy machine the window may pass between two refusals).
  let status = 0
  for (let i = 0; i < 200 && status !== 429; i++) status = (await login(h.url, 'wrong')).status
  t.is(status, 429)
  const deadline = Date.now() + 30000
  let ok = 0
  while (ok !== 303 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 100))
    ok = (await login(h.url, TOKEN)).status
  }
  t.is(ok, 303)
})

test('sources are keyed by address; IPv6 by its /64', t => {
  t.is(sourceKey('10.1.2.3'), '10.1.2.3')
  t.is(sourceKey('::ffff:10.1.2.3'), '10.1.2.3')
  t.is(sourceKey('2001:db8:1:2:aaaa::1'), sourceKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'))
  t.is(sourceKey('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  t.not(sourceKey('2001:db8:1:3::1'), sourceKey('2001:db8:1:2::1'))
  t.is(sourceKey('::1'), '0:0:0:0::/64')
  t.is(sourceKey(undefined), 'unknown')
})
