/**
 * The operator console in a real headless browser (Debian's chromium via playwright-core)
 * against the bundled example gateway run by the compiled CLI: log in with the token, both
 * listeners shown, a discovery push appears live (new host, new revision) without a reload,
 * the diff between the two revisions, a killed upstream's host marked ejected, a call's audit
 * record in the recent-records panel (audit enabled; redacted header redacted), a cross-site
 * navigation arrives without the session cookie, and no console errors. Writes the README
 * screenshot (docs/console.png).
 */
import test from 'ava'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core'
import { ROOT } from '../_helpers/cli.js'
import { adminCall, chromiumInstalled, CHROMIUM, EXAMPLE_TOKEN, greeterClient, NO_CHROMIUM, sayHello, startExample, startGreeter } from '../_helpers/console.js'

/** Generous DOM waits: the page updates once a second, the machine is shared and busy. */
const WAIT = { timeout: 30000 }

async function launch (t: import('ava').ExecutionContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  return browser
}

function watchErrors (page: Page): string[] {
  const errors: string[] = []
  page.on('console', (m: ConsoleMessage) => { if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`) })
  page.on('pageerror', (e: Error) => { errors.push(`pageerror: ${e.message}`) })
  return errors
}

const SECRET = 'Bearer SECRET-in-browser-3c9f'
const NOTE = '<img src=x id=injected onerror="document.title=1">'

test('log in, watch a discovery push, a killed upstream and an audited call live, diff two revisions, no console errors', async (t) => {
  if (!chromiumInstalled()) { t.fail(NO_CHROMIUM); return }
  const a = await startGreeter(t, 'v1')
  const b = await startGreeter(t, 'v2')
  const c = await startGreeter(t, 'pushed')
  const auditDir = mkdtempSync(join(tmpdir(), 'isthmus-console-audit-'))
  t.teardown(() => rmSync(auditDir, { recursive: true, force: true }))
  // The example config, with a long ejection so the marked host stays marked while we look,
  // and the audit trail on (authorization allow-listed: the trail and the panel redact it;
  // x-note: a caller's value the panel shows as text, never as markup).
  const ex = await startExample(t, [a.port, b.port], cfg => {
    cfg.clusters.find(x => x.name === 'greeter')!.outlier = { consecutiveFailures: 3, ejectMs: 600000 }
    cfg.audit = { enabled: true, dir: auditDir, flushMs: 50, headers: { allow: ['authorization', 'x-note'] } }
  })
  const client = greeterClient(t, ex.triple)
  t.regex(await sayHello(client, 'console'), /^v[12]$/)

  const browser = await launch(t)
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const page = await context.newPage()
  // Log in: the console answers 401 with the login form.
  const first = await page.goto(`${ex.admin}/console`)
  t.is(first?.status(), 401)
  const errors = watchErrors(page)
  await page.fill('#token', EXAMPLE_TOKEN)
  await Promise.all([page.waitForURL(`${ex.admin}/console`), page.click('#login')])
  const cookie = (await context.cookies()).find(k => k.name === 'isthmus_console')
  t.truthy(cookie)
  t.true(cookie!.httpOnly)
  t.is(cookie!.sameSite, 'Strict')

  // Both data listeners, with their bound ports.
  await page.waitForSelector(`tr[data-listener="triple"] >> text=127.0.0.1:${ex.triple}`, WAIT)
  await page.waitForSelector(`tr[data-listener="bolt"] >> text=127.0.0.1:${ex.bolt}`, WAIT)
  await page.waitForSelector('tr[data-route="greeter"]', WAIT)
  await page.waitForSelector(`tr[data-host="127.0.0.1:${a.port}"][data-health="healthy"]`, WAIT)
  await page.waitForSelector('#live.ok', WAIT)
  // The example chain's deny filter refuses Internal* methods: its counter appears.
  await new Promise<void>(resolve => { client.makeUnaryRequest('/isthmus.example.Greeter/InternalStats', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), () => resolve()) })
  await page.waitForSelector('tr[data-counter="isthmus_deny_denied_total"] >> text=rule=no-internal-methods', WAIT)

  // An audited call appears in the recent-records panel without a reload (the marker survives).
  await page.evaluate(() => { (globalThis as unknown as { loaded: string }).loaded = 'first' })
  const trace = '0af7651916cd43dd8448eb211c80319c'
  t.regex(await sayHello(client, 'audited', { traceparent: `00-${trace}-b7ad6b7169203331-01`, authorization: SECRET, 'x-note': NOTE }), /^v[12]$/)
  const row = page.locator(`tr[data-audit-trace="${trace}"]`)
  await row.waitFor(WAIT)
  const text = await row.innerText()
  t.regex(text, /triple isthmus\.example\.Greeter\/SayHello/)
  t.regex(text, /greeter → greeter/)
  t.regex(text, /authorization: \[redacted\]/)
  t.false(text.includes('SECRET'), text)
  t.true(text.includes(`x-note: ${NOTE}`), text)
  t.is(await page.locator('#panel-audit img').count(), 0, 'a header value is text, not markup')
  t.is(await row.getAttribute('data-audit-status'), '0')
  t.is(await page.evaluate(() => (globalThis as unknown as { loaded?: string }).loaded), 'first', 'the page was not reloaded')
  t.false((await page.content()).includes('SECRET-in-browser'), 'the secret is nowhere in the page')

  // A discovery push through the admin API shows up without a reload: the host and the revision.
  const push = await adminCall(ex.admin, 'PUT', '/v1/discovery/apps/farewell-app', {
    revision: 7, instances: [{ address: '127.0.0.1', port: c.port, labels: { version: 'v3' } }], services: [{ name: 'isthmus.example.Farewell' }],
  })
  t.is(push.status, 200, JSON.stringify(push.body))
  const gen = push.body.generation as number
  await page.waitForSelector(`tr[data-host="127.0.0.1:${c.port}"]`, WAIT)
  await page.waitForSelector('tr[data-app="farewell-app"]', WAIT)
  await page.waitForSelector(`tr[data-generation="${gen}"] >> text=token`, WAIT)

  // The diff between the start and the push: the new app, its instance added.
  await page.selectOption('#diff-from', '1')
  await page.selectOption('#diff-to', String(gen))
  await page.click('#diff-show')
  await page.waitForSelector('h4[data-diff-key="app/farewell-app"]', WAIT)
  const added = await page.locator('#diff-out span.add').allTextContents()
  t.true(added.some(l => l.includes(`"port": ${c.port}`)), added.join('\n'))

  // Kill the v2 upstream; canary calls (subset v2: only that host) fail until it is ejected.
  b.kill()
  for (let i = 0; i < 6; i++) await sayHello(client, 'canary', { 'x-canary': 'true' }).catch(() => {})
  await page.waitForSelector(`tr[data-host="127.0.0.1:${b.port}"][data-health="ejected"]`, WAIT)
  t.regex(await page.locator(`tr[data-host="127.0.0.1:${b.port}"] td.health`).innerText(), /ejected \(\d+ s left/)
  await page.waitForSelector('tr[data-route="greeter-v2-canary"] td.bad', WAIT)

  await page.screenshot({ path: join(ROOT, 'docs/console.png'), fullPage: true })
  t.deepEqual(errors, [], 'no console errors in the page')
})

test('a cross-site navigation to the console carries no session cookie (SameSite=Strict)', async (t) => {
  if (!chromiumInstalled()) { t.fail(NO_CHROMIUM); return }
  const a = await startGreeter(t, 'v1')
  const b = await startGreeter(t, 'v2')
  const ex = await startExample(t, [a.port, b.port])
  // Another site: `localhost` is not the same site as `127.0.0.1`.
  const other = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end(`<!doctype html><a id="go" href="${ex.admin}/console">console</a>`)
  })
  await new Promise<void>(resolve => other.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { other.close() })
  const otherUrl = `http://localhost:${(other.address() as AddressInfo).port}/`

  const browser = await launch(t)
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${ex.admin}/console`)
  await page.fill('#token', EXAMPLE_TOKEN)
  await Promise.all([page.waitForURL(`${ex.admin}/console`), page.click('#login')])
  t.is((await page.goto(`${ex.admin}/console`))?.status(), 200, 'same-site: the session works')

  await page.goto(otherUrl)
  const [nav] = await Promise.all([page.waitForEvent('response', r => r.url() === `${ex.admin}/console`), page.click('#go')])
  t.is(nav.status(), 401, 'from another site the cookie is not sent: the login form answers')
  t.is(await nav.request().headerValue('cookie'), null)
})
