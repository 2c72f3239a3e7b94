import test from 'ava'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type JWK } from 'jose'
import auth from '../../../filters/auth/index.js'
import { CONTINUE } from '../../../gateway/chain/filter-api.js'
import { LocalReply } from '../../../gateway/chain/local-reply.js'
import { GrpcStatus, BoltStatus } from '../../../gateway/errors.js'
import { compileFilter, makeCall, testContext } from '../../_helpers/compile-filter.js'
import { tempDir } from '../../_helpers/pki.js'

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

async function keyPair (kid: string): Promise<{ privateKey: PrivateKey, jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  return { privateKey, jwk: { ...await exportJWK(publicKey), kid, alg: 'RS256', use: 'sig' } }
}

function sign (key: PrivateKey, kid: string, o: { aud?: string, exp?: number | string, nbf?: number, claims?: Record<string, unknown> } = {}): Promise<string> {
  const j = new SignJWT({ entity: 'acme', app: 'billing', ...o.claims })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer('https://idp.acme.test')
    .setSubject('user-42')
    .setAudience(o.aud ?? 'isthmus')
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
  if (o.nbf !== undefined) j.setNotBefore(o.nbf)
  return j.sign(key)
}

async function run (filter: { onRequest?: (c: ReturnType<typeof makeCall>) => unknown }, call: ReturnType<typeof makeCall>): Promise<unknown> {
  return await filter.onRequest!(call)
}

const shared = (async () => {
  const k1 = await keyPair('k1')
  const other = await keyPair('k1') // same kid, different key: a forged signature
  const tmp = tempDir('isthmus-jwks-')
  const file = join(tmp.dir, 'jwks.json')
  writeFileSync(file, JSON.stringify({ keys: [k1.jwk] }))
  return { k1, other, tmp, file }
})()
test.after.always(async () => { (await shared).tmp.remove() })

function fileFilter (file: string, extra: Record<string, unknown> = {}): ReturnType<typeof compileFilter> {
  return compileFilter(auth, { jwks: { file }, issuer: 'https://idp.acme.test', audience: 'isthmus', ...extra }, testContext({ entity: 'bank' }))
}

function assertDenied (t: import('ava').ExecutionContext, v: unknown, message: RegExp, protocol: 'triple' | 'bolt' = 'triple'): void {
  t.true(v instanceof LocalReply, 'a local reply')
  const r = v as LocalReply
  t.is(r.code, 'ISTH_ERR_AUTH_UNAUTHENTICATED')
  if (protocol === 'triple') t.is(r.grpcStatus, GrpcStatus.UNAUTHENTICATED)
  else t.is(r.boltStatus, BoltStatus.SERVER_EXCEPTION)
  t.regex(r.message, message)
}

test('a valid token passes and its claims become the caller identity', async t => {
  const { k1, file } = await shared
  const { filter } = fileFilter(file)
  const call = makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'k1')}` } })
  const v = filter.onRequest!(call)
  t.true(typeof (v as Promise<unknown>).then === 'function', 'a new token is verified asynchronously')
  t.is(await v, CONTINUE)
  t.is(call.identity?.source, 'jwt')
  t.is(call.identity?.entity, 'acme')
  t.is(call.identity?.app, 'billing')
  t.is(call.identity?.principal, 'user-42')
  t.is(call.caller, call.identity)
  t.deepEqual(call.decisions, [{ filter: 'auth', action: 'allow', reason: 'valid token' }])

  // The same token again is served from the cache, synchronously.
  const again = makeCall({ headers: { authorization: call.headers.get('authorization')! } })
  t.is(filter.onRequest!(again), CONTINUE)
  t.is(again.identity?.principal, 'user-42')
})

test('Bolt: the authorization header-map key, with or without "Bearer"', async t => {
  const { k1, file } = await shared
  const { filter } = fileFilter(file, { cacheMs: 0 })
  const token = await sign(k1.privateKey, 'k1')
  for (const value of [token, `Bearer ${token}`]) {
    const call = makeCall({ protocol: 'bolt', headers: { authorization: value } })
    t.is(await run(filter, call), CONTINUE)
    t.is(call.identity?.entity, 'acme')
  }
  assertDenied(t, await run(filter, makeCall({ protocol: 'bolt' })), /^unauthenticated: missing bearer token$/, 'bolt')
})

test('missing token: UNAUTHENTICATED synchronously, or through with optional', async t => {
  const { file } = await shared
  const strict = fileFilter(file).filter
  const call = makeCall()
  const v = strict.onRequest!(call)
  assertDenied(t, v, /missing bearer token/)
  t.deepEqual(call.decisions, [{ filter: 'auth', action: 'deny', reason: 'missing bearer token' }])
  const lax = fileFilter(file, { optional: true }).filter
  const c2 = makeCall()
  t.is(lax.onRequest!(c2), CONTINUE)
  t.is(c2.identity, null)
  assertDenied(t, lax.onRequest!(makeCall({ headers: { authorization: 'Basic abc' } })), /not "Bearer <token>"/)
})

test('expired token', async t => {
  const { k1, file } = await shared
  const { filter } = fileFilter(file)
  const exp = Math.floor(Date.now() / 1000) - 120 // beyond the 30 s default skew
  assertDenied(t, await run(filter, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'k1', { exp })}` } })), /token expired/)
  // Within the configured skew it still passes.
  const skewed = fileFilter(file, { clockSkewSec: 300 }).filter
  t.is(await run(skewed, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'k1', { exp })}` } })), CONTINUE)
})

test('not yet valid token', async t => {
  const { k1, file } = await shared
  const { filter } = fileFilter(file)
  const nbf = Math.floor(Date.now() / 1000) + 3600
  assertDenied(t, await run(filter, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'k1', { nbf })}` } })), /not yet valid/)
})

test('bad signature', async t => {
  const { other, file } = await shared
  const { filter } = fileFilter(file)
  const call = makeCall({ headers: { authorization: `Bearer ${await sign(other.privateKey, 'k1')}` } })
  assertDenied(t, await run(filter, call), /token signature is invalid/)
  t.is(call.identity, null)
})

test('alg none is refused (and cannot be configured)', async t => {
  const { file } = await shared
  const { filter } = fileFilter(file)
  const none = new UnsecuredJWT({ entity: 'acme' }).setIssuer('https://idp.acme.test').setAudience('isthmus').setExpirationTime('5m').encode()
  assertDenied(t, filter.onRequest!(makeCall({ headers: { authorization: `Bearer ${none}` } })), /algorithm is not allowed/)
  const err = t.throws(() => fileFilter(file, { algorithms: ['none'] }))
  t.is((err as { code?: string }).code, 'ISTH_ERR_CONFIG_INVALID')
})

test('wrong audience and wrong issuer', async t => {
  const { k1, file } = await shared
  const { filter } = fileFilter(file)
  assertDenied(t, await run(filter, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'k1', { aud: 'someone-else' })}` } })), /audience is not accepted/)
  const other = fileFilter(file, { issuer: 'https://idp.other.test' }).filter
  assertDenied(t, await run(other, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'k1')}` } })), /issuer is not accepted/)
})

test('garbage token', async t => {
  const { file } = await shared
  const { filter } = fileFilter(file)
  assertDenied(t, await run(filter, makeCall({ headers: { authorization: 'Bearer not.a.jwt' } })), /malformed/)
})

test('remote JWKS over undici: an unknown kid is served after a refresh, at most once per interval', async t => {
  const k1 = await keyPair('r1')
  const k2 = await keyPair('r2')
  let keys: JWK[] = [k1.jwk]
  let fetches = 0
  const server = createServer((req, res) => {
    fetches++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`

  const { filter } = compileFilter(auth, { jwks: { url, refreshIntervalMs: 0 }, audience: 'isthmus', cacheMs: 0 })
  t.is(await run(filter, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'r1')}` } })), CONTINUE)
  t.is(fetches, 1)

  // The IdP rotates in a new key; the first token with its kid triggers a refetch.
  keys = [k1.jwk, k2.jwk]
  const call = makeCall({ headers: { authorization: `Bearer ${await sign(k2.privateKey, 'r2')}` } })
  t.is(await run(filter, call), CONTINUE)
  t.is(fetches, 2)
  t.is(call.identity?.principal, 'user-42')

  // With a refresh interval, made-up kids do not cause a fetch each.
  const limited = compileFilter(auth, { jwks: { url, refreshIntervalMs: 60_000 }, audience: 'isthmus', cacheMs: 0 }).filter
  t.is(await run(limited, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'r1')}` } })), CONTINUE)
  const before = fetches
  const bogus = await keyPair('nope')
  for (let i = 0; i < 3; i++) {
    assertDenied(t, await run(limited, makeCall({ headers: { authorization: `Bearer ${await sign(bogus.privateKey, 'nope')}` } })), /no signing key for the token kid/)
  }
  t.is(fetches, before, 'no refetch inside the interval')
})

test('remote JWKS unavailable: a clear reason, no crash', async t => {
  const server = createServer((_req, res) => { res.statusCode = 500; res.end('down') })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`
  const k1 = await keyPair('x')
  const { filter } = compileFilter(auth, { jwks: { url }, cacheMs: 0 })
  assertDenied(t, await run(filter, makeCall({ headers: { authorization: `Bearer ${await sign(k1.privateKey, 'x')}` } })), /signing keys are unavailable/)
})
