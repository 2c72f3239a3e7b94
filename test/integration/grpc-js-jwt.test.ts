/** JWT auth and policy on a real gateway: grpc-js -> gateway (auth, policy) -> grpc-js echo. */
import test, { type ExecutionContext } from 'ava'
import * as grpc from '@grpc/grpc-js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from 'jose'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { tempDir } from '../_helpers/pki.js'

const keys = (async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const tmp = tempDir('isthmus-jwt-')
  writeFileSync(join(tmp.dir, 'jwks.json'), JSON.stringify({ keys: [{ ...await exportJWK(publicKey), kid: 'k1', alg: 'RS256' }] }))
  return { privateKey, tmp }
})()
test.after.always(async () => { (await keys).tmp.remove() })

async function token (o: { role?: string, exp?: number } = {}): Promise<string> {
  const { privateKey } = await keys
  return new SignJWT({ entity: 'bank', app: 'teller', ...(o.role === undefined ? {} : { role: o.role }) })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('alice').setAudience('isthmus')
    .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300).sign(privateKey)
}

async function setup (t: ExecutionContext) {
  const { tmp } = await keys
  const up = await startEchoServer('up')
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], {
    entity: 'bank',
    filters: [
      { name: 'auth', config: { jwks: { file: 'jwks.json' }, audience: 'isthmus' } },
      { name: 'policy', config: { default: 'deny', rules: [{ name: 'payers', action: 'allow', from: { claims: { role: 'payer' } } }] } },
    ],
  }), tmp.dir)
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  return { client, up }
}

function md (value: string): grpc.Metadata {
  const m = new grpc.Metadata()
  m.set('authorization', value)
  return m
}

test('a valid token with the right claim crosses', async t => {
  const { client, up } = await setup(t)
  const { reply } = await unary(client, { message: 'pay' }, md(`Bearer ${await token({ role: 'payer' })}`))
  t.is(reply.message, 'pay')
  t.is(up.calls, 1)
})

test('statuses and messages: missing, expired, alg none -> UNAUTHENTICATED; valid but not allowed -> PERMISSION_DENIED', async t => {
  const { client, up } = await setup(t)
  const cases: Array<[string, grpc.Metadata, number, RegExp]> = [
    ['missing', new grpc.Metadata(), grpc.status.UNAUTHENTICATED, /^unauthenticated: missing bearer token$/],
    ['expired', md(`Bearer ${await token({ role: 'payer', exp: Math.floor(Date.now() / 1000) - 600 })}`), grpc.status.UNAUTHENTICATED, /token expired/],
    ['alg none', md(`Bearer ${new UnsecuredJWT({ role: 'payer' }).setAudience('isthmus').encode()}`), grpc.status.UNAUTHENTICATED, /algorithm is not allowed/],
    ['no role', md(`Bearer ${await token()}`), grpc.status.PERMISSION_DENIED, /no policy rule allows this call/],
  ]
  for (const [name, m, code, re] of cases) {
    const err = await t.throwsAsync(unary(client, { message: name }, m)) as grpc.ServiceError
    t.is(err.code, code, name)
    t.regex(err.details, re, name)
  }
  t.is(up.calls, 0)
})
