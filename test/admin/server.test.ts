import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { startAdminServer, type AdminDeps } from '../../admin/server.js'
import type { AdminListenerOptions } from '../../gateway/config/options.js'

const logger = pino({ level: 'silent' })

function deps (over: Partial<AdminListenerOptions> = {}, extra: Partial<AdminDeps> = {}): AdminDeps {
  return {
    logger,
    options: { host: '127.0.0.1', port: 0, maxBodyBytes: 1024, token: 's3cret', ...over },
    tls: null,
    isReady: () => true,
    listeners: () => ({ triple: { host: '127.0.0.1', port: 1234, tls: false } }),
    drain: async () => {},
    store: null,
    ...extra,
  }
}

test('open endpoints answer without credentials', async t => {
  let ready = false
  const s = await startAdminServer(deps({}, { isReady: () => ready }))
  t.teardown(() => s.close())
  const base = `http://127.0.0.1:${s.address.port}`
  t.is((await fetch(`${base}/healthz`)).status, 200)
  t.is((await fetch(`${base}/ready`)).status, 503)
  ready = true
  t.is((await fetch(`${base}/ready`)).status, 200)
  const m = await fetch(`${base}/metrics`)
  t.is(m.status, 200)
  t.regex(await m.text(), /isthmus_requests_total/)
  t.is((await fetch(`${base}/ready`, { method: 'POST' })).status, 405)
})

test('v1 needs the bearer token: 401 without, 403 wrong, 200 right', async t => {
  let drained = 0
  const s = await startAdminServer(deps({}, { drain: async () => { drained++ } }))
  t.teardown(() => s.close())
  const base = `http://127.0.0.1:${s.address.port}`
  const none = await fetch(`${base}/v1/listeners`)
  t.is(none.status, 401)
  const body = await none.json() as { error: { code: string } }
  t.is(body.error.code, 'ISTH_ERR_ADMIN_UNAUTHORIZED')
  t.is((await fetch(`${base}/v1/listeners`, { headers: { authorization: 'Bearer nope' } })).status, 403)
  const ok = await fetch(`${base}/v1/listeners`, { headers: { authorization: 'Bearer s3cret' } })
  t.is(ok.status, 200)
  t.deepEqual(await ok.json(), { listeners: { triple: { host: '127.0.0.1', port: 1234, tls: false } } })
  // GET on a mutation endpoint is refused and does not drain.
  t.is((await fetch(`${base}/v1/drain`, { headers: { authorization: 'Bearer s3cret' } })).status, 405)
  t.is(drained, 0)
  t.is((await fetch(`${base}/v1/drain`, { method: 'POST', headers: { authorization: 'Bearer s3cret' } })).status, 200)
  t.is(drained, 1)
  t.is((await fetch(`${base}/v1/nope`, { headers: { authorization: 'Bearer s3cret' } })).status, 404)
})

test('token from env and file', async t => {
  const get = async (port: number, token: string): Promise<number> => (await fetch(`http://127.0.0.1:${port}/v1/listeners`, { headers: { authorization: `Bearer ${token}` } })).status
  const s = await startAdminServer(deps({ token: undefined, tokenEnv: 'ADMIN_TOK' }, { env: { ADMIN_TOK: 'from-env\n' } }))
  t.teardown(() => s.close())
  t.is(await get(s.address.port, 'from-env'), 200)
  t.is(await get(s.address.port, 's3cret'), 403)
  await t.throwsAsync(startAdminServer(deps({ token: undefined, tokenEnv: 'MISSING_TOK' }, { env: {} })), { message: /MISSING_TOK/ })

  // tokenFile resolves against baseDir; a trailing newline is not part of the token.
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-token-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'admin-token'), 'from-file\n')
  const f = await startAdminServer(deps({ token: undefined, tokenFile: 'admin-token' }, { baseDir: dir }))
  t.teardown(() => f.close())
  t.is(await get(f.address.port, 'from-file'), 200)
  t.is(await get(f.address.port, 'from-filex'), 403)
  t.is(await get(f.address.port, 's3cret'), 403)
  const missing = await t.throwsAsync(startAdminServer(deps({ token: undefined, tokenFile: 'nope' }, { baseDir: dir })))
  t.is((missing as { code?: string }).code, 'ISTH_ERR_CONFIG_READ')
  writeFileSync(join(dir, 'empty'), '\n')
  const empty = await t.throwsAsync(startAdminServer(deps({ token: undefined, tokenFile: 'empty' }, { baseDir: dir })))
  t.is((empty as { code?: string }).code, 'ISTH_ERR_CONFIG_INVALID')
})

test('refuses a non-loopback bind with no token and no mTLS', async t => {
  const err = await t.throwsAsync(startAdminServer(deps({ token: undefined, host: '0.0.0.0' })))
  t.regex(err?.message ?? '', /not a loopback address/)
  t.is((err as { code?: string }).code, 'ISTH_ERR_CONFIG_INVALID')
})
