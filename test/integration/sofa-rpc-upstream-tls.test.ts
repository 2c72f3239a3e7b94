/**
 * Bolt clusters dialed over mTLS by startGateway, and the caller identity on the Bolt listener:
 * sofa-rpc-node (or a raw Bolt client) -> A (plain Bolt) -> mTLS -> B (Bolt TLS,
 * requireClientCert, peer-stamp filter) -> upstream. A refuses a B that is not the expected
 * identity (or whose certificate a CA bound to another entity signed) with ERROR_COMM and the
 * reason in the message.
 */
import test, { type ExecutionContext } from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadCa } from '../../certs/ca.js'
import { issueCert } from '../../certs/issue.js'
import { BoltStatus } from '../../gateway/errors.js'
import { decodeHeaderMap } from '../../gateway/protocol/bolt/header-view.js'
import { RawBoltClient, readResponse, requestFrame } from '../_helpers/bolt-frames.js'
import { startTestGateway } from '../_helpers/gateway.js'
import { makeCa, makeLeaf, tempDir, type LeafPaths } from '../_helpers/pki.js'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { sofaClient, sofaConsumer, startSofaServer } from '../_peers/sofa-rpc.js'

const stamp = fileURLToPath(new URL('../_helpers/filters/peer-stamp.ts', import.meta.url))

interface Pki { dir: string, bankCa: string, egress: LeafPaths, ingress: LeafPaths, forged: LeafPaths }

// One PKI for the file (key generation is the slow part); tests only read it.
const tmp = tempDir('isthmus-bolt-up-tls-')
const sharedPki: Promise<Pki> = (async () => {
  const acmeCa = await makeCa(tmp.dir, 'acme')
  const bankCa = await makeCa(tmp.dir, 'bank')
  const egress = await makeLeaf(tmp.dir, acmeCa, 'acme', { app: 'egress', client: true })
  const ingress = await makeLeaf(tmp.dir, bankCa, 'bank', { app: 'ingress', server: true })
  // A server cert that claims bank/ingress but was signed by acme's CA.
  const f = issueCert({ ...loadCa(acmeCa), entity: 'bank' }, { entity: 'bank', app: 'ingress', server: true, ip: ['127.0.0.1'], dns: ['localhost'] })
  const forged = { cert: join(tmp.dir, 'forged.crt'), key: join(tmp.dir, 'forged.key'), ca: '' }
  writeFileSync(forged.cert, f.certPem)
  writeFileSync(forged.key, f.keyPem, { mode: 0o600 })
  writeFileSync(join(tmp.dir, 'a-trusts-bank.pem'), readFileSync(join(bankCa, 'ca.crt'), 'utf8'))
  // A bundle where acme's CA is trusted too: the chain of the forged cert verifies.
  writeFileSync(join(tmp.dir, 'a-trusts-bank-and-acme.pem'), readFileSync(join(bankCa, 'ca.crt'), 'utf8') + readFileSync(join(acmeCa, 'ca.crt'), 'utf8'))
  writeFileSync(join(tmp.dir, 'b-trusts-acme.pem'), readFileSync(join(acmeCa, 'ca.crt'), 'utf8'))
  return { dir: tmp.dir, bankCa, egress, ingress, forged }
})()
test.after.always(() => { tmp.remove() })

interface PairOptions { upstreamPort: number, peerIdentity?: string, serverCert?: LeafPaths, aCa?: string }

/** B (Bolt TLS ingress, stamps the caller) and A (plain Bolt egress dialing B over mTLS); A's Bolt port. */
async function startPair (t: ExecutionContext, o: PairOptions): Promise<number> {
  const pki = await sharedPki
  const server = o.serverCert ?? pki.ingress
  const b = await startTestGateway(t, {
    entity: 'bank',
    listeners: { bolt: { host: '127.0.0.1', port: 0, tls: { cert: server.cert, key: server.key, ca: 'b-trusts-acme.pem', requireClientCert: true } }, admin: { host: '127.0.0.1', port: 0 } },
    clusters: [{ name: 'provider', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: o.upstreamPort }] }],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'provider', timeoutMs: 5000 }],
    filters: [{ name: 'peer-stamp', module: stamp, config: { header: 'x-peer' } }],
    drain: { timeoutMs: 500 },
  }, pki.dir)
  const a = await startTestGateway(t, {
    entity: 'acme',
    listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    clusters: [{
      name: 'bank', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: b.addresses.bolt!.port }],
      tls: { cert: pki.egress.cert, key: pki.egress.key, ca: o.aCa ?? 'a-trusts-bank.pem', servername: 'localhost', peerIdentity: o.peerIdentity ?? 'bank/ingress' },
    }],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'bank', timeoutMs: 5000 }],
    drain: { timeoutMs: 500 },
  }, pki.dir)
  return a.addresses.bolt!.port
}

test('sofa-rpc-node -> A -> mTLS -> B -> sofa-rpc-node provider: calls and exceptions cross', async t => {
  const provider = await startSofaServer(); t.teardown(() => provider.close())
  const aPort = await startPair(t, { upstreamPort: provider.port })
  const sofa = sofaClient(); t.teardown(() => sofa.close())
  const consumer = await sofaConsumer(sofa, aPort)
  const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => consumer.invoke('plus', [i, 1])))
  t.deepEqual(sums, Array.from({ length: 50 }, (_, i) => i + 1))
  const err = await t.throwsAsync(consumer.invoke('fail', ['boom']))
  t.regex(err?.message ?? '', /boom/)
})

test('B stamps the mTLS caller (acme/egress) into the header map its upstream sees', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const aPort = await startPair(t, { upstreamPort: up.port })
  const sofa = sofaClient(); t.teardown(() => sofa.close())
  const consumer = await sofaConsumer(sofa, aPort)
  t.is(await consumer.invoke('echo', ['x']), 'pong')
  t.is(await consumer.invoke('echo', ['y']), 'pong') // the identity is cached per connection: same answer
  t.is(up.requests.length, 2)
  for (const r of up.requests) t.is(decodeHeaderMap(r.headerBytes()).get('x-peer'), 'acme/egress')
})

async function refusedCall (t: ExecutionContext, o: Omit<PairOptions, 'upstreamPort'>): Promise<{ status: number, error: string, upstreamCalls: number }> {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const aPort = await startPair(t, { ...o, upstreamPort: up.port })
  const client = new RawBoltClient(aPort); t.teardown(() => client.close())
  await client.ready()
  client.write(requestFrame({ id: 9 }))
  await client.until(() => client.byId(9) !== undefined)
  const f = client.byId(9)!
  // Failed fast during the reconnect back-off: same status, same reason.
  client.write(requestFrame({ id: 10 }))
  await client.until(() => client.byId(10) !== undefined)
  t.is(client.byId(10)!.status, f.status)
  t.is(readResponse(client.byId(10)!.buf).error, readResponse(f.buf).error)
  return { status: f.status, error: readResponse(f.buf).error ?? '', upstreamCalls: up.requests.length }
}

test('A refuses a B whose SPIFFE identity is not the expected one: ERROR_COMM with the reason', async t => {
  const r = await refusedCall(t, { peerIdentity: 'bank/other-app' })
  t.log(r.error)
  t.is(r.status, BoltStatus.ERROR_COMM)
  t.regex(r.error, /ISTH_ERR_UPSTREAM_CONNECT/)
  t.regex(r.error, /peer identity spiffe:\/\/[^ ]+\/entity\/bank\/app\/ingress is not the expected bank\/other-app/)
  t.is(r.upstreamCalls, 0)
})

test('A refuses a B whose cert claims bank but was signed by acme\'s CA (entity-bound CA check)', async t => {
  const pki = await sharedPki
  const r = await refusedCall(t, { serverCert: pki.forged, aCa: 'a-trusts-bank-and-acme.pem' })
  t.log(r.error)
  t.is(r.status, BoltStatus.ERROR_COMM)
  t.regex(r.error, /signed by entity "acme"'s CA/)
  t.is(r.upstreamCalls, 0)
})
