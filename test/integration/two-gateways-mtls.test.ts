/**
 * Two entities, two gateways: app (acme) -> egress A -> mTLS -> ingress B -> provider (bank).
 * Certificates are made with the `isthmus certs` CLI code in a temp directory.
 */
import test, { type ExecutionContext } from 'ava'
import * as grpc from '@grpc/grpc-js'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import tls from 'node:tls'
import { Agent, request } from 'undici'
import { echoClient, startEchoServer, unary, EchoService, type EchoClient } from '../_peers/grpc-echo.js'
import { startTestGateway } from '../_helpers/gateway.js'
import { makeCa, makeLeaf, tempDir, type LeafPaths } from '../_helpers/pki.js'
import { loadCa } from '../../certs/ca.js'
import { issueCert } from '../../certs/issue.js'

// A user filter (loaded by path) that shows the provider who B thinks is calling.
const SHOW_PEER = `export default {
  name: 'show-peer',
  schema: { type: 'object' },
  compile: () => ({}),
  create: () => ({ onRequest (call) { const c = call.caller; call.headers.set('x-peer', c === null ? 'none' : c.principal); return 0 } }),
}
`

interface Pki {
  dir: string
  remove: () => void
  acmeCa: string
  bankCa: string
  globexCa: string
  egress: LeafPaths
  ingress: LeafPaths
}

// One PKI for the file (key generation is the slow part); tests only read it, and the
// rotation test works on its own copy of the ingress files.
const sharedPki: Promise<Pki> = (async () => {
  const tmp = tempDir('isthmus-2gw-')
  const acmeCa = await makeCa(tmp.dir, 'acme')
  const bankCa = await makeCa(tmp.dir, 'bank')
  const globexCa = await makeCa(tmp.dir, 'globex')
  const egress = await makeLeaf(tmp.dir, acmeCa, 'acme', { app: 'egress', client: true })
  const ingress = await makeLeaf(tmp.dir, bankCa, 'bank', { app: 'ingress', server: true })
  // B trusts the CAs of the entities that may call it.
  writeFileSync(join(tmp.dir, 'b-trusted.pem'), readFileSync(join(acmeCa, 'ca.crt'), 'utf8') + readFileSync(join(globexCa, 'ca.crt'), 'utf8'))
  writeFileSync(join(tmp.dir, 'show-peer.mjs'), SHOW_PEER)
  return { dir: tmp.dir, remove: tmp.remove, acmeCa, bankCa, globexCa, egress, ingress }
})()
test.after.always(async () => { (await sharedPki).remove() })

async function makePki (_t: ExecutionContext): Promise<Pki> { return await sharedPki }

async function startPair (t: ExecutionContext, pki: Pki, o: { aPeerIdentity?: string, bExtra?: Record<string, unknown> } = {}) {
  const provider = await startEchoServer('bank-provider')
  t.teardown(() => provider.close())
  const b = await startTestGateway(t, {
    entity: 'bank',
    listeners: {
      triple: { host: '127.0.0.1', port: 0, tls: { cert: pki.ingress.cert, key: pki.ingress.key, ca: 'b-trusted.pem', requireClientCert: true } },
      admin: { host: '127.0.0.1', port: 0, token: 'b-token' },
    },
    clusters: [{ name: 'provider', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: provider.port }] }],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'provider' }],
    filters: [
      { name: 'policy', config: { default: 'deny-foreign', rules: [{ name: 'acme-in', action: 'allow', from: { entity: 'acme' } }] } },
      { name: 'show-peer', module: 'show-peer.mjs' },
    ],
    drain: { timeoutMs: 1000 },
    ...o.bExtra,
  }, pki.dir)
  const a = await startTestGateway(t, {
    entity: 'acme',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'a-token' } },
    clusters: [{
      name: 'bank',
      protocol: 'triple',
      hosts: [{ address: '127.0.0.1', port: b.addresses.triple!.port }],
      tls: { cert: pki.egress.cert, key: pki.egress.key, ca: join(pki.bankCa, 'ca.crt'), servername: 'localhost', peerIdentity: o.aPeerIdentity ?? 'bank/ingress' },
    }],
    routes: [{ name: 'to-bank', match: { service: { prefix: '' } }, cluster: 'bank' }],
    drain: { timeoutMs: 1000 },
  }, pki.dir)
  const app = echoClient(a.addresses.triple!.port)
  t.teardown(() => app.close())
  return { provider, a, b, app }
}

/** A grpc-js client dialing B directly with the given client cert (or none). */
function directClient (t: ExecutionContext, pki: Pki, port: number, cert: { certPem: string | Buffer, keyPem: string | Buffer } | null): EchoClient {
  const creds = grpc.credentials.createSsl(
    readFileSync(join(pki.bankCa, 'ca.crt')),
    cert === null ? null : Buffer.from(cert.keyPem),
    cert === null ? null : Buffer.from(cert.certPem),
  )
  const c = new EchoService(`127.0.0.1:${port}`, creds, { 'grpc.initial_reconnect_backoff_ms': 50 }) as EchoClient
  t.teardown(() => c.close())
  return c
}


/** Resolve once `pred` holds (polled; a generous overall bound, not a timing assertion). */
async function waitFor (pred: () => boolean, ms = 40000): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
test('grpc-js calls cross A -> mTLS -> B; B sees acme\'s egress identity', async t => {
  const pki = await makePki(t)
  const { app, provider } = await startPair(t, pki)
  const { reply, headers } = await unary(app, { message: 'hello bank' })
  t.is(reply.message, 'hello bank')
  t.is(reply.servedBy, 'bank-provider')
  t.is(headers.get('x-peer')[0], 'spiffe://isthmus.local/entity/acme/app/egress')
  t.is(provider.seen[0].get('x-peer')[0], 'spiffe://isthmus.local/entity/acme/app/egress')

  const got: number[] = []
  await new Promise<void>((resolve, reject) => {
    const s = app.serverStream({ message: 's', count: 4 })
    s.on('data', (r: { index: number }) => got.push(r.index))
    s.on('error', reject)
    s.on('end', () => resolve())
  })
  t.deepEqual(got, [0, 1, 2, 3])
})

test('B refuses a client cert from a foreign CA, an expired cert and a forged-entity cert; no cert at all', async t => {
  const pki = await makePki(t)
  const { b } = await startPair(t, pki)
  const port = b.addresses.triple!.port
  const acme = loadCa(pki.acmeCa)

  const scratch = tempDir('isthmus-mallory-')
  t.teardown(scratch.remove)
  const foreignDir = await makeCa(scratch.dir, 'mallory')
  const foreign = issueCert(loadCa(foreignDir), { entity: 'mallory', client: true })
  const expired = issueCert(acme, { entity: 'acme', app: 'egress', client: true, days: 1, notBefore: new Date(Date.now() - 3 * 86_400_000) })
  const forged = issueCert({ ...acme, entity: 'bank' }, { entity: 'bank', app: 'ingress', client: true })
  const good = issueCert(acme, { entity: 'acme', app: 'direct', client: true })

  for (const [name, cert] of [['foreign CA', foreign], ['expired', expired], ['forged entity', forged], ['no cert', null]] as const) {
    const err = await t.throwsAsync(unary(directClient(t, pki, port, cert), { message: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 3000 }), undefined, name) as grpc.ServiceError
    t.true(err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED, `${name}: ${err.code} ${err.details}`)
  }
  const { headers } = await unary(directClient(t, pki, port, good), { message: 'ok' })
  t.is(headers.get('x-peer')[0], 'spiffe://isthmus.local/entity/acme/app/direct')
})

test('a valid cert of another trusted entity gets PERMISSION_DENIED from the default deny-foreign', async t => {
  const pki = await makePki(t)
  const { b } = await startPair(t, pki)
  const globex = issueCert(loadCa(pki.globexCa), { entity: 'globex', app: 'shop', client: true })
  const err = await t.throwsAsync(unary(directClient(t, pki, b.addresses.triple!.port, globex), { message: 'x' })) as grpc.ServiceError
  t.is(err.code, grpc.status.PERMISSION_DENIED)
  t.regex(err.details, /caller is not entity bank/)
})

test('A refuses a B whose identity is not the expected one (UNAVAILABLE to the app)', async t => {
  const pki = await makePki(t)
  const { app, provider } = await startPair(t, pki, { aPeerIdentity: 'globex' })
  // A far deadline: the refusal must come from A's identity check, however slow the handshakes.
  const err = await t.throwsAsync(unary(app, { message: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 50000 })) as grpc.ServiceError
  t.is(err.code, grpc.status.UNAVAILABLE)
  t.is(provider.calls, 0)
})

/** The serial number B presents to a fresh handshake. */
async function servedSerial (port: number, pki: Pki): Promise<string> {
  const key = readFileSync(pki.egress.key)
  const cert = readFileSync(pki.egress.cert)
  return await new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(join(pki.bankCa, 'ca.crt')), cert, key, ALPNProtocols: ['h2'] }, () => {
      const serial = s.getPeerX509Certificate()?.serialNumber ?? ''
      s.destroy()
      resolve(serial)
    })
    s.on('error', reject)
  })
}

test('certificate rotation on B while calls are in flight: new handshakes get the new cert, zero calls fail', async t => {
  const shared = await makePki(t)
  const own = tempDir('isthmus-rotate-')
  t.teardown(own.remove)
  const ingress = { cert: join(own.dir, 'tls.crt'), key: join(own.dir, 'tls.key'), ca: shared.ingress.ca }
  copyFileSync(shared.ingress.cert, ingress.cert)
  copyFileSync(shared.ingress.key, ingress.key)
  const pki = { ...shared, ingress }
  const { app, b } = await startPair(t, pki)
  const port = b.addresses.triple!.port
  const before = await servedSerial(port, pki)
  const next = await makeLeaf(own.dir, pki.bankCa, 'bank', { app: 'ingress', server: true, name: 'ingress-next' })
  const nextSerial = new X509Certificate(readFileSync(next.cert)).serialNumber
  t.not(before, nextSerial)

  let ok = 0
  const failures: string[] = []
  let stop = false
  const worker = async (): Promise<void> => {
    while (!stop) {
      try {
        await unary(app, { message: 'r', delayMs: 5 })
        ok++
      } catch (err) { failures.push(`${(err as grpc.ServiceError).code} ${(err as Error).message}`) }
    }
  }
  // Fresh mTLS clients straight to B during the swap: each makes a new handshake.
  const direct = async (): Promise<void> => {
    const good = { certPem: readFileSync(pki.egress.cert), keyPem: readFileSync(pki.egress.key) }
    while (!stop) {
      const c = directClient(t, pki, port, good)
      try { await unary(c, { message: 'd' }); ok++ } catch (err) { failures.push(`direct ${(err as Error).message}`) }
      c.close()
    }
  }
  const workers = [...Array.from({ length: 6 }, worker), direct()]
  // Counted, not timed: calls are flowing before the swap and keep flowing after it.
  await waitFor(() => ok >= 20)
  // Swap key then cert, each by rename (as a secret mount or an operator would).
  copyFileSync(next.key, pki.ingress.key + '.tmp'); renameSync(pki.ingress.key + '.tmp', pki.ingress.key)
  copyFileSync(next.cert, pki.ingress.cert + '.tmp'); renameSync(pki.ingress.cert + '.tmp', pki.ingress.cert)
  let after = before
  // The file watch and the reload take what a busy machine gives them: poll, bounded generously.
  const deadline = Date.now() + 40000
  while (after !== nextSerial && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 50))
    after = await servedSerial(port, pki)
  }
  const atSwap = ok
  await waitFor(() => ok >= atSwap + 20)
  stop = true
  await Promise.all(workers)
  t.is(after, nextSerial, 'new handshakes see the new certificate')
  t.deepEqual(failures, [])
})

test('admin API over mTLS: an admin identity is let in, another identity is forbidden, no cert is 401', async t => {
  const pki = await makePki(t)
  const own = tempDir('isthmus-admin-')
  t.teardown(own.remove)
  const admin = await makeLeaf(own.dir, pki.bankCa, 'bank', { app: 'ops', client: true })
  const other = await makeLeaf(own.dir, pki.bankCa, 'bank', { app: 'teller', client: true })
  const server = await makeLeaf(own.dir, pki.bankCa, 'bank', { app: 'admin', server: true })
  const gw = await startTestGateway(t, {
    entity: 'bank',
    listeners: {
      triple: { host: '127.0.0.1', port: 0 },
      admin: {
        host: '127.0.0.1', port: 0,
        tls: { cert: server.cert, key: server.key, ca: server.ca, requireClientCert: false },
        adminIdentities: ['spiffe://isthmus.local/entity/bank/app/ops'],
      },
    },
    clusters: [], routes: [], drain: { timeoutMs: 500 },
  }, pki.dir)
  const url = `https://127.0.0.1:${gw.addresses.admin.port}/v1/listeners`
  const get = async (leaf: LeafPaths | null): Promise<number> => {
    const dispatcher = new Agent({ connect: { ca: readFileSync(server.ca), ...(leaf === null ? {} : { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }) } })
    try {
      const res = await request(url, { dispatcher })
      await res.body.dump()
      return res.statusCode
    } finally { await dispatcher.close() }
  }
  t.is(await get(admin), 200)
  t.is(await get(other), 403)
  t.is(await get(null), 401)
  const health = new Agent({ connect: { ca: readFileSync(server.ca) } })
  t.teardown(() => health.close())
  t.is((await request(`https://127.0.0.1:${gw.addresses.admin.port}/ready`, { dispatcher: health })).statusCode, 200)
})
