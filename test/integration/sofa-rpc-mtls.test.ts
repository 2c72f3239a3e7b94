/**
 * Bolt across two gateways joined by mTLS (startGateway):
 * sofa-rpc-node -> A (plain Bolt) -> mTLS -> B (Bolt TLS) -> sofa-rpc-node provider.
 */
import test, { type ExecutionContext } from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTestGateway } from '../_helpers/gateway.js'
import { makeCa, makeLeaf, tempDir, type LeafPaths } from '../_helpers/pki.js'
import { sofaClient, sofaConsumer, startSofaServer } from '../_peers/sofa-rpc.js'

async function boltGateway (t: ExecutionContext, config: Record<string, unknown>, baseDir: string): Promise<number> {
  const gw = await startTestGateway(t, { ...config, drain: { timeoutMs: 500 } }, baseDir)
  return gw.addresses.bolt!.port
}

async function setup (t: ExecutionContext, caller: 'egress' | 'globex' = 'egress', peerIdentity = 'bank/ingress') {
  const tmp = tempDir('isthmus-bolt-mtls-')
  t.teardown(tmp.remove)
  const acmeCa = await makeCa(tmp.dir, 'acme')
  const bankCa = await makeCa(tmp.dir, 'bank')
  const globexCa = await makeCa(tmp.dir, 'globex')
  const ingress = await makeLeaf(tmp.dir, bankCa, 'bank', { app: 'ingress', server: true })
  const client: LeafPaths = caller === 'egress'
    ? await makeLeaf(tmp.dir, acmeCa, 'acme', { app: 'egress', client: true })
    : await makeLeaf(tmp.dir, globexCa, 'globex', { app: 'egress', client: true })
  writeFileSync(join(tmp.dir, 'trusted.pem'), readFileSync(join(acmeCa, 'ca.crt'), 'utf8') + readFileSync(join(globexCa, 'ca.crt'), 'utf8'))

  const provider = await startSofaServer()
  t.teardown(() => provider.close())
  const bPort = await boltGateway(t, {
    entity: 'bank',
    listeners: { bolt: { host: '127.0.0.1', port: 0, tls: { cert: ingress.cert, key: ingress.key, ca: 'trusted.pem', requireClientCert: true } }, admin: { host: '127.0.0.1', port: 0 } },
    clusters: [{ name: 'provider', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: provider.port }] }],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'provider', timeoutMs: 5000 }],
    filters: [{ name: 'policy', config: { default: 'deny-foreign', rules: [{ name: 'acme-egress-in', action: 'allow', from: { entity: 'acme', app: 'egress' } }] } }],
  }, tmp.dir)
  const aPort = await boltGateway(t, {
    entity: caller === 'egress' ? 'acme' : 'globex',
    listeners: { bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    clusters: [{
      name: 'bank', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: bPort }],
      tls: { cert: client.cert, key: client.key, ca: join(bankCa, 'ca.crt'), servername: 'localhost', peerIdentity },
    }],
    routes: [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'bank', timeoutMs: 5000 }],
  }, tmp.dir)
  const sofa = sofaClient()
  t.teardown(() => sofa.close())
  return { consumer: await sofaConsumer(sofa, aPort) }
}

test('sofa-rpc-node calls cross A -> mTLS -> B; B authorizes acme/egress by its certificate', async t => {
  const { consumer } = await setup(t)
  t.is(await consumer.invoke('plus', [2, 3]), 5)
  t.is(await consumer.invoke('echo', ['across']), 'across')
})

test('another trusted entity is denied on Bolt with SERVER_EXCEPTION and the reason', async t => {
  const { consumer } = await setup(t, 'globex')
  const err = await t.throwsAsync(consumer.invoke('plus', [1, 1]))
  t.log(err?.message)
  t.regex(err?.message ?? '', /denied: caller is not entity bank/)
})

test('A refuses a Bolt peer whose identity is not the expected one', async t => {
  const { consumer } = await setup(t, 'egress', 'bank/other-app')
  const err = await t.throwsAsync(consumer.invoke('plus', [1, 1]))
  t.log(err?.message)
  t.regex(err?.message ?? '', /ISTH_ERR_UPSTREAM_CONNECT/)
})
