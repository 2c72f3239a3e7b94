/** The `auth` filter on the Bolt listener: the JWT travels in the header map key `authorization`. */
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { BoltStatus } from '../../gateway/errors.js'
import { RawBoltClient, readResponse, requestFrame, withHeaderMap } from '../_helpers/bolt-frames.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { tempDir } from '../_helpers/pki.js'
import { fileURLToPath } from 'node:url'
import { decodeHeaderMap } from '../../gateway/protocol/bolt/header-view.js'

const stamp = fileURLToPath(new URL('../_helpers/filters/peer-stamp.ts', import.meta.url))

test('Bolt + JWT: a valid token passes with its identity; missing and expired tokens get SERVER_EXCEPTION with the reason', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const tmp = tempDir('isthmus-bolt-jwt-')
  t.teardown(tmp.remove)
  const jwks = join(tmp.dir, 'jwks.json')
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...await exportJWK(publicKey), kid: 'k1', alg: 'ES256' }] }))
  const sign = (exp: string | number): Promise<string> => new SignJWT({ entity: 'acme', app: 'billing' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.test').setAudience('isthmus')
    .setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(exp).sign(privateKey)

  const up = await startRawUpstream()
  t.teardown(() => up.close())
  const gw = await startBoltGateway({
    upstreamPort: up.port,
    filters: [
      { name: 'auth', config: { jwks: { file: jwks }, issuer: 'https://idp.test', audience: 'isthmus', algorithms: ['ES256'] } },
      { name: 'headers', config: { request: { remove: ['authorization'] } } },
      { name: 'stamp', module: stamp, config: { header: 'x-caller' } },
    ],
  })
  t.teardown(() => gw.close())
  const client = new RawBoltClient(gw.port)
  t.teardown(() => client.close())
  await client.ready()
  const service = 'com.isthmus.test.EchoService:1.0'

  const good = await sign('5m')
  client.write(withHeaderMap(requestFrame({ id: 1 }), { service, authorization: `Bearer ${good}` }))
  client.write(withHeaderMap(requestFrame({ id: 2 }), { service }))
  client.write(withHeaderMap(requestFrame({ id: 3 }), { service, authorization: `Bearer ${await sign(Math.floor(Date.now() / 1000) - 3600)}` }))
  await client.until(() => client.frames.length >= 3)

  const ok = client.byId(1)!
  t.is(ok.status, BoltStatus.SUCCESS)
  t.is(readResponse(ok.buf).value, 'pong')
  t.is(up.requests.length, 1, 'only the authenticated call reaches the upstream')
  t.false(up.requests[0].buf.includes(Buffer.from(good)), 'the token was removed before forwarding')
  t.is(Object.fromEntries(decodeHeaderMap(up.requests[0].headerBytes()))['x-caller'], 'acme/billing', 'the token identity reached the filters')

  for (const [id, reason] of [[2, /unauthenticated: .*(no|missing) .*token/i], [3, /unauthenticated: .*exp/i]] as const) {
    const f = client.byId(id)!
    t.is(f.status, BoltStatus.SERVER_EXCEPTION)
    t.regex(readResponse(f.buf).error ?? '', reason)
  }
})
