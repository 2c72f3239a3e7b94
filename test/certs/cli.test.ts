import test from 'ava'
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import tls from 'node:tls'
import { certsCli, makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'
import { peerIdentityOfSocket } from '../../certs/identity.js'

test('init-ca and issue make certificates Node TLS accepts in a real mTLS handshake', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const aCa = await makeCa(tmp.dir, 'acme', 'example.org')
  const bCa = await makeCa(tmp.dir, 'bolt-bank', 'example.org')
  const srv = await makeLeaf(tmp.dir, bCa, 'bolt-bank', { app: 'ingress', server: true })
  const cli = await makeLeaf(tmp.dir, aCa, 'acme', { app: 'egress', client: true })

  const server = tls.createServer({
    cert: readFileSync(srv.cert), key: readFileSync(srv.key), ca: readFileSync(cli.ca),
    requestCert: true, rejectUnauthorized: true,
  })
  const seen: Array<string | undefined> = []
  server.on('secureConnection', s => { seen.push(peerIdentityOfSocket(s)?.principal); s.end('ok') })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const port = (server.address() as { port: number }).port

  const c = tls.connect({ host: '127.0.0.1', port, cert: readFileSync(cli.cert), key: readFileSync(cli.key), ca: readFileSync(srv.ca) })
  const data = await new Promise<string>((resolve, reject) => {
    let buf = ''
    c.on('data', d => { buf += String(d) })
    c.on('end', () => { resolve(buf) })
    c.on('error', reject)
  })
  t.true(c.authorized, 'the client verified the server (IP SAN 127.0.0.1)')
  t.is(peerIdentityOfSocket(c)?.principal, 'spiffe://example.org/entity/bolt-bank/app/ingress')
  t.is(data, 'ok')
  t.deepEqual(seen, ['spiffe://example.org/entity/acme/app/egress'])
})

test('leaf SANs: SPIFFE URI, DNS and IP; usages; keys are 0600', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'acme')
  const srv = await makeLeaf(tmp.dir, ca, 'acme', { app: 'gw', server: true })
  const x = new X509Certificate(readFileSync(srv.cert))
  t.true(x.subjectAltName?.includes('URI:spiffe://isthmus.local/entity/acme/app/gw'))
  t.true(x.subjectAltName?.includes('DNS:localhost'))
  t.true(x.subjectAltName?.includes('IP Address:127.0.0.1'))
  t.true(x.checkIssued(new X509Certificate(readFileSync(join(ca, 'ca.crt')))))
  t.false(x.ca)
  const noApp = await makeLeaf(tmp.dir, ca, 'acme', { client: true })
  t.regex(new X509Certificate(readFileSync(noApp.cert)).subjectAltName ?? '', /^URI:spiffe:\/\/isthmus\.local\/entity\/acme$/)
  t.is(statSync(join(ca, 'ca.key')).mode & 0o777, 0o600)
  t.is(statSync(srv.key).mode & 0o777, 0o600)
  t.is(statSync(noApp.key).mode & 0o777, 0o600)
  t.is(statSync(srv.cert).mode & 0o077, 0o044)
})

test('issue refuses a CA of another entity, a missing CA and a CA whose key does not match', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const aCa = await makeCa(tmp.dir, 'acme')
  const bCa = await makeCa(tmp.dir, 'bank')
  let r = await certsCli('issue', '--ca', aCa, '--entity', 'bank', '--out', join(tmp.dir, 'x'))
  t.is(r.code, 1)
  t.regex(r.err, /^isthmus certs issue: ISTH_ERR_CERTS: .*entity "acme"'s CA and cannot issue for entity "bank"/)
  t.is(r.err.trim().split('\n').length, 1, 'one line')

  r = await certsCli('issue', '--ca', join(tmp.dir, 'nope'), '--entity', 'acme')
  t.is(r.code, 1)
  t.regex(r.err, /cannot read CA certificate .*nope\/ca\.crt: file not found/)

  copyFileSync(join(bCa, 'ca.key'), join(aCa, 'ca.key'))
  r = await certsCli('issue', '--ca', aCa, '--entity', 'acme', '--out', join(tmp.dir, 'y'))
  t.is(r.code, 1)
  t.regex(r.err, /CA key .* does not match CA certificate/)
})

test('refuses to overwrite without --force, overwrites with it', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const out = join(tmp.dir, 'ca')
  t.is((await certsCli('init-ca', '--entity', 'acme', '--out', out)).code, 0)
  const before = readFileSync(join(out, 'ca.crt'), 'utf8')
  let r = await certsCli('init-ca', '--entity', 'acme', '--out', out)
  t.is(r.code, 1)
  t.regex(r.err, /already exist.*--force/)
  t.is(readFileSync(join(out, 'ca.crt'), 'utf8'), before, 'left untouched')
  r = await certsCli('init-ca', '--entity', 'acme', '--out', out, '--force')
  t.is(r.code, 0)
  t.not(readFileSync(join(out, 'ca.crt'), 'utf8'), before)
  t.is(statSync(join(out, 'ca.key')).mode & 0o777, 0o600)

  const leafOut = join(tmp.dir, 'leaf')
  t.is((await certsCli('issue', '--ca', out, '--entity', 'acme', '--out', leafOut)).code, 0)
  r = await certsCli('issue', '--ca', out, '--entity', 'acme', '--out', leafOut)
  t.is(r.code, 1)
  t.regex(r.err, /acme\.crt.*already exist/)
  t.is((await certsCli('issue', '--ca', out, '--entity', 'acme', '--out', leafOut, '--force')).code, 0)
})

test('--help, missing and unknown flags', async t => {
  let r = await certsCli('--help')
  t.is(r.code, 0); t.regex(r.out, /init-ca/)
  r = await certsCli('issue', '--help')
  t.is(r.code, 0); t.regex(r.out, /--dns/)
  r = await certsCli('init-ca')
  t.is(r.code, 1); t.regex(r.err, /--entity is required/)
  r = await certsCli('init-ca', '--entity', 'a', '--bogus')
  t.is(r.code, 2); t.regex(r.err, /bogus/)
  r = await certsCli('init-ca', '--entity', 'Not Valid')
  t.is(r.code, 1); t.regex(r.err, /not a valid name/)
  r = await certsCli('frobnicate')
  t.is(r.code, 2); t.regex(r.err, /unknown command/)
})
