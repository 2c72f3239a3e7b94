import test from 'ava'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, readFileSync, writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import tls from 'node:tls'
import { TlsMaterial } from '../../certs/tls-material.js'
import { loadCa } from '../../certs/ca.js'
import { issueCert } from '../../certs/issue.js'
import { makeCa, makeLeaf, memoryLogger, tempDir, type LeafPaths } from '../_helpers/pki.js'
import { IsthmusError } from '../../gateway/errors.js'

async function listen (server: tls.Server): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}

/** Connect and resolve once the handshake is done; the socket echoes through the server. */
function connect (port: number, o: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...o }, () => { resolve(s) })
    s.once('error', reject)
  })
}

function roundTrip (s: tls.TLSSocket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    s.once('data', d => { resolve(String(d)) })
    s.once('error', reject)
    s.once('close', () => { reject(new Error('closed')) })
    s.write(msg)
  })
}

function echoServer (m: TlsMaterial): tls.Server {
  const server = tls.createServer(m.secureContextOptions(), s => { s.on('data', d => s.write(d)); s.on('error', () => {}) })
  m.attach(server)
  return server
}

/** Atomically replace `dst`'s cert and key with `src`'s, the way a secret mount or an operator would. */
function replace (src: LeafPaths, dst: LeafPaths): void {
  copyFileSync(src.key, dst.key + '.new'); renameSync(dst.key + '.new', dst.key)
  copyFileSync(src.cert, dst.cert + '.new'); renameSync(dst.cert + '.new', dst.cert)
}

test('rotation: a file change swaps the context for new handshakes, open connections keep working', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'bank')
  const srv = await makeLeaf(tmp.dir, ca, 'bank', { app: 'gw', server: true })
  const next = await makeLeaf(tmp.dir, ca, 'bank', { app: 'gw', server: true, name: 'next' })
  const cli = await makeLeaf(tmp.dir, ca, 'bank', { app: 'caller', client: true })
  const log = memoryLogger()
  const m = new TlsMaterial({ cert: srv.cert, key: srv.key, ca: srv.ca, requireClientCert: true }, { baseDir: tmp.dir, logger: log, debounceMs: 20, pollMs: 0 })
  t.teardown(() => { m.close() })
  t.is(m.identity?.principal, 'spiffe://isthmus.local/entity/bank/app/gw')
  const server = echoServer(m)
  const port = await listen(server)
  t.teardown(() => { server.close() })
  const clientOpts = { cert: readFileSync(cli.cert), key: readFileSync(cli.key), ca: readFileSync(ca + '/ca.crt') }

  const old = await connect(port, clientOpts)
  t.teardown(() => { old.destroy() })
  const oldSerial = old.getPeerX509Certificate()?.serialNumber
  t.is(await roundTrip(old, 'before'), 'before')

  const changed = new Promise<void>(resolve => { m.onChange(() => { resolve() }) })
  replace(next, srv)
  await changed
  t.is(m.version, 2)

  const fresh = await connect(port, clientOpts)
  t.teardown(() => { fresh.destroy() })
  t.is(fresh.getPeerX509Certificate()?.serialNumber, new X509Certificate(readFileSync(next.cert)).serialNumber)
  t.not(fresh.getPeerX509Certificate()?.serialNumber, oldSerial)
  t.is(await roundTrip(old, 'after'), 'after', 'the connection opened before the swap still works')
  t.is(await roundTrip(fresh, 'new'), 'new')
  t.true(log.lines.some(l => l.level === 'info' && l.msg === 'TLS certificate reloaded'))
})

test('a bad new file is refused with one log line and the old context stays', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'bank')
  const srv = await makeLeaf(tmp.dir, ca, 'bank', { server: true })
  const other = await makeLeaf(tmp.dir, ca, 'bank', { server: true, name: 'other' })
  const log = memoryLogger()
  const m = new TlsMaterial({ cert: srv.cert, key: srv.key }, { baseDir: tmp.dir, logger: log, debounceMs: 10, pollMs: 0 })
  t.teardown(() => { m.close() })
  const server = echoServer(m)
  const port = await listen(server)
  t.teardown(() => { server.close() })
  const serial = new X509Certificate(readFileSync(srv.cert)).serialNumber

  writeFileSync(srv.cert, 'not a certificate')
  t.false(m.reload())
  t.false(m.reload(), 'the same bad file again')
  const warns = log.lines.filter(l => l.level === 'warn')
  t.is(warns.length, 1, 'one log line per bad version')
  t.regex((warns[0].obj as { reason: string }).reason, /does not parse/)

  copyFileSync(other.cert, srv.cert) // a cert whose key is not the key file's
  t.false(m.reload())
  t.regex((log.lines.filter(l => l.level === 'warn')[1].obj as { reason: string }).reason, /does not match/)

  const c = await connect(port, { ca: readFileSync(srv.ca) })
  t.teardown(() => { c.destroy() })
  t.is(c.getPeerX509Certificate()?.serialNumber, serial, 'still served with the old certificate')
  t.is(m.version, 1)
})

test('an expired certificate is refused at load', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const caDir = await makeCa(tmp.dir, 'bank')
  const ca = loadCa(caDir)
  const leaf = issueCert(ca, { entity: 'bank', server: true, days: 1, notBefore: new Date(Date.now() - 3 * 86_400_000) })
  writeFileSync(join(tmp.dir, 'old.crt'), leaf.certPem)
  writeFileSync(join(tmp.dir, 'old.key'), leaf.keyPem)
  const err = t.throws(() => new TlsMaterial({ cert: 'old.crt', key: 'old.key' }, { baseDir: tmp.dir, logger: memoryLogger() }))
  t.true(err instanceof IsthmusError)
  t.is((err as IsthmusError).code, 'ISTH_ERR_CERTS')
  t.regex(err?.message ?? '', /expired/)
})

test('a client cert claiming another entity than its CA vouches for is refused; the right one passes', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const aDir = await makeCa(tmp.dir, 'acme')
  const bDir = await makeCa(tmp.dir, 'bank')
  const srv = await makeLeaf(tmp.dir, bDir, 'bank', { server: true })
  const bundle = join(tmp.dir, 'trusted.pem')
  writeFileSync(bundle, readFileSync(join(aDir, 'ca.crt'), 'utf8') + readFileSync(join(bDir, 'ca.crt'), 'utf8'))
  const log = memoryLogger()
  const m = new TlsMaterial({ cert: srv.cert, key: srv.key, ca: bundle, requireClientCert: true }, { baseDir: tmp.dir, logger: log, pollMs: 0 })
  t.teardown(() => { m.close() })
  const server = echoServer(m)
  const port = await listen(server)
  t.teardown(() => { server.close() })

  // acme's CA key signing a certificate that claims to be bank (bypassing the CLI's check).
  const acme = loadCa(aDir)
  const forged = issueCert({ ...acme, entity: 'bank' }, { entity: 'bank', client: true })
  const bad = await connect(port, { cert: forged.certPem, key: forged.keyPem, ca: readFileSync(srv.ca) })
  t.teardown(() => { bad.destroy() })
  await t.throwsAsync(roundTrip(bad, 'x'))
  t.true(log.lines.some(l => l.msg === 'client certificate refused' && /signed by entity "acme"'s CA/.test((l.obj as { reason: string }).reason)))

  const good = issueCert(acme, { entity: 'acme', app: 'egress', client: true })
  const ok = await connect(port, { cert: good.certPem, key: good.keyPem, ca: readFileSync(srv.ca) })
  t.teardown(() => { ok.destroy() })
  t.is(await roundTrip(ok, 'y'), 'y')
})

test('clientOptions pins the CA and checks the expected peer identity', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const aDir = await makeCa(tmp.dir, 'acme')
  const bDir = await makeCa(tmp.dir, 'bank')
  const srv = await makeLeaf(tmp.dir, bDir, 'bank', { app: 'ingress', server: true })
  const cli = await makeLeaf(tmp.dir, aDir, 'acme', { app: 'egress', client: true })
  const sm = new TlsMaterial({ cert: srv.cert, key: srv.key, ca: cli.ca, requireClientCert: true }, { baseDir: tmp.dir, logger: memoryLogger(), pollMs: 0 })
  t.teardown(() => { sm.close() })
  const server = echoServer(sm)
  const port = await listen(server)
  t.teardown(() => { server.close() })

  const good = new TlsMaterial({ cert: cli.cert, key: cli.key, ca: srv.ca, peerIdentity: 'bank/ingress', servername: 'bank.example' }, { baseDir: tmp.dir, logger: memoryLogger(), pollMs: 0 })
  const s = await connect(port, good.clientOptions())
  t.teardown(() => { s.destroy() })
  t.is(good.checkPeerIdentity(s, 'bank'), null)
  t.regex(good.checkPeerIdentity(s, 'acme') ?? '', /not the expected acme/)
  t.is(await roundTrip(s, 'z'), 'z')

  const wrong = new TlsMaterial({ cert: cli.cert, key: cli.key, ca: srv.ca, peerIdentity: 'spiffe://isthmus.local/entity/other' }, { baseDir: tmp.dir, logger: memoryLogger(), pollMs: 0 })
  const err = await t.throwsAsync(connect(port, wrong.clientOptions()))
  t.regex(err?.message ?? '', /peer identity spiffe:\/\/isthmus\.local\/entity\/bank\/app\/ingress is not the expected/)

  const foreign = new TlsMaterial({ cert: cli.cert, key: cli.key, ca: cli.ca, peerIdentity: 'bank' }, { baseDir: tmp.dir, logger: memoryLogger(), pollMs: 0 })
  await t.throwsAsync(connect(port, foreign.clientOptions()), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
})

test('liveClientOptions: a spread copy made after a rotation carries the new client certificate', async t => {
  const tmp = tempDir(); t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'acme')
  const cli = await makeLeaf(tmp.dir, ca, 'acme', { app: 'egress', client: true })
  const next = await makeLeaf(tmp.dir, ca, 'acme', { app: 'egress', client: true, name: 'next' })
  const m = new TlsMaterial({ cert: cli.cert, key: cli.key, ca: cli.ca, peerIdentity: 'acme' }, { baseDir: tmp.dir, logger: memoryLogger(), pollMs: 0 })
  t.teardown(() => { m.close() })
  const live = m.liveClientOptions()
  t.is({ ...live }.cert, readFileSync(cli.cert, 'utf8'))
  replace(next, cli)
  t.true(m.reload())
  const copy = { ...live }
  t.is(copy.cert, readFileSync(next.cert, 'utf8'))
  t.is(copy.key, readFileSync(next.key, 'utf8'))
  t.is(typeof copy.checkServerIdentity, 'function')
})
