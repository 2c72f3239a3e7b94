/**
 * Per-call cost of the security filters, in-process (no network): `policy` (first-match
 * rules, default deny-foreign), `auth` with a cached token (sync path) and with a token seen
 * for the first time (jose RS256 verify, async). Also CA and leaf issuance times.
 * Run: npx tsx bench/security.ts
 */
import { performance } from 'node:perf_hooks'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import auth from '../filters/auth/index.js'
import policy from '../filters/policy/index.js'
import { LocalReply } from '../gateway/chain/local-reply.js'
import type { CompileContext, FilterFactory } from '../gateway/chain/filter-api.js'
import { compileValidator } from '../gateway/config/validate.js'
import { IsthmusError } from '../gateway/errors.js'
import { Call } from '../gateway/call/call.js'
import { ObjectHeaders } from '../gateway/call/headers.js'
import { createCa } from '../certs/ca.js'
import { issueCert } from '../certs/issue.js'

const ctx: CompileContext = {
  entity: 'bank', baseDir: process.cwd(), logger: pino({ level: 'silent' }),
  invalid: (m, p) => new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${p}: ${m}`, p),
  localReply: (c, d, m) => new LocalReply(c, d, m),
  counter: () => ({ inc: () => {}, cell: () => ({ n: 0 }) }),
  readsMethod: () => {},
}
function build<O, C> (f: FilterFactory<O, C>, o: unknown) { return f.create(f.compile(compileValidator<O>(f.schema)(o), ctx)) }
function call (headers: Record<string, string> = {}): Call {
  const c = new Call('triple', 'triple', new ObjectHeaders(headers), '127.0.0.1')
  c.service = 'com.bank.Payments'; c.method = 'pay'
  c.peer = { source: 'mtls', entity: 'acme', app: 'egress', principal: 'spiffe://isthmus.local/entity/acme/app/egress', claims: undefined }
  return c
}

let t = performance.now()
const ca = createCa({ entity: 'bank' })
console.log(`init-ca (RSA 2048 + sign): ${(performance.now() - t).toFixed(0)} ms`)
t = performance.now()
for (let i = 0; i < 5; i++) issueCert(ca, { entity: 'bank', server: true, ip: ['127.0.0.1'] })
console.log(`issue leaf: ${((performance.now() - t) / 5).toFixed(0)} ms`)

const rules = Array.from({ length: 20 }, (_, i) => ({ name: `r${i}`, action: 'allow', from: { entity: `e${i}` }, to: { service: `com.bank.S${i}` } }))
rules.push({ name: 'acme', action: 'allow', from: { entity: 'acme' }, to: { service: 'com.bank.Payments' } })
const pol = build(policy, { default: 'deny-foreign', rules })
const N = 1_000_000
for (let r = 0; r < 3; r++) {
  t = performance.now()
  for (let i = 0; i < N; i++) pol.onRequest!(call())
  const withCall = (performance.now() - t) / N * 1e6
  t = performance.now()
  for (let i = 0; i < N; i++) call()
  const callOnly = (performance.now() - t) / N * 1e6
  console.log(`policy, 21 rules, match on the last: ${(withCall - callOnly).toFixed(0)} ns/call (Call construction excluded)`)
}

const { privateKey, publicKey } = await generateKeyPair('RS256')
const dir = mkdtempSync(join(tmpdir(), 'bench-jwks-'))
writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...await exportJWK(publicKey), kid: 'k', alg: 'RS256' }] }))
const au = build(auth, { jwks: { file: join(dir, 'jwks.json') }, audience: 'isthmus' })
const noCache = build(auth, { jwks: { file: join(dir, 'jwks.json') }, audience: 'isthmus', cacheMs: 0 })
const token = await new SignJWT({ entity: 'acme' }).setProtectedHeader({ alg: 'RS256', kid: 'k' }).setAudience('isthmus').setExpirationTime('1h').sign(privateKey)
const hdr = { authorization: `Bearer ${token}` }
await au.onRequest!(call(hdr))
for (let r = 0; r < 3; r++) {
  t = performance.now()
  for (let i = 0; i < 200_000; i++) au.onRequest!(call({ ...hdr }))
  console.log(`auth, cached token (sync): ${((performance.now() - t) / 200_000 * 1e3).toFixed(2)} µs/call`)
}
t = performance.now()
for (let i = 0; i < 2000; i++) await noCache.onRequest!(call({ ...hdr }))
console.log(`auth, RS256 verify each call (async): ${((performance.now() - t) / 2000 * 1e3).toFixed(1)} µs/call`)
rmSync(dir, { recursive: true, force: true })
