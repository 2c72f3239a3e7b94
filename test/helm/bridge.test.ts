/** The chart's ZooKeeper bridge sidecar: off by default; when on, a valid container the bridge's own parser accepts. */
import test from 'ava'
import { parseZkOptions } from '../../bridge/zookeeper/cli.js'
import { chartDir, helm, pick, renderedConfig, template, tempFile, tokenSet, validateManifest } from '../_helpers/helm.js'

const ON = [
  ...tokenSet,
  '--set', 'bridge.zookeeper.enabled=true',
  '--set', 'bridge.zookeeper.connect=zk-0.zk:2181\\,zk-1.zk:2181/sofa',
  '--set', 'bridge.zookeeper.servicePrefixes[0]=com.acme.pay.',
  '--set', 'bridge.zookeeper.services[0]=com.acme.Ledger',
  '--set', 'bridge.zookeeper.map.zone=idc',
  '--set', 'bridge.zookeeper.labels.ldc=ldc',
]

interface Container { name: string, args: string[], readinessProbe?: unknown, livenessProbe?: { httpGet: { path: string } }, securityContext: { readOnlyRootFilesystem: boolean }, volumeMounts: Array<{ name: string, mountPath: string, readOnly?: boolean }> }
interface Volume { name: string, secret?: { secretName: string, defaultMode?: number, items: Array<{ key: string, path: string }> } }
type Dep = { spec: { template: { spec: { containers: Container[], volumes: Volume[] } } } }

const BRIDGE_ID = 'spiffe://isthmus.local/entity/acme/app/bridge'
const MTLS = [
  ...ON,
  '--set', 'tls.enabled=true', '--set', 'tls.cert=C', '--set', 'tls.key=K', '--set', 'tls.ca=A', '--set', 'tls.admin=true',
  '--set', `config.listeners.admin.adminIdentities[0]=${BRIDGE_ID}`,
  '--set', 'bridge.admin.tls.secretName=gw-bridge-admin',
]

test('off by default: no sidecar', async t => {
  const r = await template(tokenSet)
  t.deepEqual(pick<Dep>(r, 'Deployment').spec.template.spec.containers.map(c => c.name), ['isthmus'])
})

test('on: a sidecar that calls this pod\'s admin API over loopback with the pod\'s token; liveness only', async t => {
  const r = await template(ON)
  t.deepEqual(r.manifests.flatMap(validateManifest), [])
  const containers = pick<Dep>(r, 'Deployment').spec.template.spec.containers
  t.deepEqual(containers.map(c => c.name), ['isthmus', 'bridge-zookeeper'])
  const b = containers[1]
  t.deepEqual(b.args.slice(0, 2), ['bridge', 'zookeeper'])
  const arg = (flag: string): string[] => b.args.flatMap((a, i) => a === flag ? [b.args[i + 1]] : [])
  t.deepEqual(arg('--connect'), ['zk-0.zk:2181,zk-1.zk:2181/sofa'])
  t.deepEqual(arg('--admin'), ['http://127.0.0.1:9901'])
  t.deepEqual(arg('--token-file'), ['/etc/isthmus/secrets/admin-token'])
  t.deepEqual(arg('--service-prefix'), ['com.acme.pay.'])
  t.deepEqual(arg('--service'), ['com.acme.Ledger'])
  t.deepEqual(arg('--map'), ['zone=idc'])
  t.deepEqual(arg('--label'), ['ldc=ldc'])
  t.is(b.readinessProbe, undefined, 'a ZooKeeper outage must not take the gateway out of its Service')
  t.is(b.livenessProbe?.httpGet.path, '/healthz')
  t.true(b.securityContext.readOnlyRootFilesystem)
  t.true(b.volumeMounts.some(m => m.mountPath === '/etc/isthmus' && m.readOnly === true))

  // The bridge's own option parser accepts exactly what the chart renders.
  const token = await tempFile('token', 'x\n')
  const args = b.args.slice(2).map((a, i, all) => all[i - 1] === '--token-file' ? token : a)
  const o = parseZkOptions(args, {})
  t.not(o, 'help')
  if (o === 'help') return
  t.is(o.connect, 'zk-0.zk:2181,zk-1.zk:2181/sofa')
  t.deepEqual(o.prefixes, ['com.acme.pay.'])
  t.is(o.params.zone, 'idc')
  t.is(o.metricsPort, 9902)
})

test('admin mTLS: with tls.admin and bridge.admin.tls the sidecar calls https://127.0.0.1 with its own client certificate, mounted only in the sidecar', async t => {
  const r = await template([...MTLS, '--set', 'bridge.admin.tls.serverName=gw.edge.svc'])
  t.deepEqual(r.manifests.flatMap(validateManifest), [])
  const spec = pick<Dep>(r, 'Deployment').spec.template.spec
  const [gw, b] = spec.containers
  const arg = (flag: string): string[] => b.args.flatMap((a, i) => a === flag ? [b.args[i + 1]] : [])
  t.deepEqual(arg('--admin'), ['https://127.0.0.1:9901'])
  t.deepEqual(arg('--cert'), ['/etc/isthmus-bridge/admin-tls/tls.crt'])
  t.deepEqual(arg('--key'), ['/etc/isthmus-bridge/admin-tls/tls.key'])
  t.deepEqual(arg('--ca'), ['/etc/isthmus-bridge/admin-tls/ca.crt'])
  t.deepEqual(arg('--admin-servername'), ['gw.edge.svc'])
  t.deepEqual(arg('--token-file'), [], 'the certificate authenticates the bridge, not the token')
  t.deepEqual(b.volumeMounts.find(m => m.name === 'bridge-admin-tls'), { name: 'bridge-admin-tls', mountPath: '/etc/isthmus-bridge/admin-tls', readOnly: true })
  t.false(gw.volumeMounts.some(m => m.name === 'bridge-admin-tls'), 'the gateway container does not see the bridge\'s key')
  const vol = spec.volumes.find(v => v.name === 'bridge-admin-tls')
  t.deepEqual(vol?.secret, { secretName: 'gw-bridge-admin', defaultMode: 288, items: ['tls.crt', 'tls.key', 'ca.crt'].map(k => ({ key: k, path: k })) })
  // The gateway's admin listener serves TLS, asks for client certificates (a CA) and lists the identity.
  const admin = renderedConfig(r).value.listeners.admin as { tls?: Record<string, unknown>, adminIdentities?: string[] }
  t.is(admin.tls?.ca, '/etc/isthmus/tls/ca.crt')
  t.deepEqual(admin.adminIdentities, [BRIDGE_ID])

  // The bridge's own option parser accepts exactly what the chart renders.
  const o = parseZkOptions(b.args.slice(2), {})
  t.not(o, 'help')
  if (o === 'help') return
  t.is(o.admin, 'https://127.0.0.1:9901')
  t.is(o.token, undefined)
  t.deepEqual(o.tls, { cert: '/etc/isthmus-bridge/admin-tls/tls.crt', key: '/etc/isthmus-bridge/admin-tls/tls.key', ca: '/etc/isthmus-bridge/admin-tls/ca.crt', servername: 'gw.edge.svc' })

  // The server name defaults to the first cert-manager DNS name, else localhost.
  const name = async (extra: string[]): Promise<string[]> => {
    const c = pick<Dep>(await template(extra), 'Deployment').spec.template.spec.containers[1]
    return c.args.flatMap((a, i) => a === '--admin-servername' ? [c.args[i + 1]] : [])
  }
  t.deepEqual(await name(MTLS), ['localhost'])
  const cm = ['--set', 'tls.cert=', '--set', 'tls.key=', '--set', 'tls.ca=', '--set', 'tls.certManager.enabled=true', '--set', 'tls.certManager.issuerRef.name=ca',
    '--set', 'tls.certManager.dnsNames[0]=gw.edge.svc.cluster.local', '--set', 'tls.certManager.dnsNames[1]=gw.edge']
  t.deepEqual(await name([...MTLS, ...cm]), ['gw.edge.svc.cluster.local'])
  // Without bridge.admin.tls: no volume, the token over loopback HTTP.
  const plain = pick<Dep>(await template(ON), 'Deployment').spec.template.spec
  t.false(plain.volumes.some(v => v.name === 'bridge-admin-tls'))
})

const FAILS: Array<{ what: string, args: string[], message: RegExp }> = [
  { what: 'no connect', args: [...tokenSet, '--set', 'bridge.zookeeper.enabled=true', '--set', 'bridge.zookeeper.allServices=true'], message: /bridge\.zookeeper\.connect is required/ },
  { what: 'no service filter', args: [...tokenSet, '--set', 'bridge.zookeeper.enabled=true', '--set', 'bridge.zookeeper.connect=zk:2181'], message: /say which services to export/ },
  { what: 'admin TLS but no client certificate', args: [...ON, '--set', 'tls.enabled=true', '--set', 'tls.cert=C', '--set', 'tls.key=K', '--set', 'tls.ca=A', '--set', 'tls.admin=true'], message: /tls\.admin needs bridge\.admin\.tls\.secretName/ },
  { what: 'a client certificate but no admin TLS', args: [...MTLS, '--set', 'tls.admin=false'], message: /bridge\.admin\.tls\.secretName needs tls\.enabled and tls\.admin/ },
  { what: 'a client certificate but no admin identities', args: [...MTLS, '--set', 'config.listeners.admin.adminIdentities=null'], message: /adminIdentities/ },
  { what: 'the metrics port on the admin port', args: [...ON, '--set', 'bridge.zookeeper.metricsPort=9901'], message: /metricsPort: 9901 is the admin port/ },
]

for (const f of FAILS) {
  test(`helm template fails with a clear message on a bridge with ${f.what}`, async t => {
    const r = await helm(['template', 'gw', chartDir, ...f.args])
    t.not(r.code, 0)
    t.regex(r.stderr, f.message)
  })
}

test('helm lint names a wrong bridge value', async t => {
  const r = await helm(['lint', '--strict', chartDir, ...tokenSet, '--set', 'bridge.zookeeper.layout=flat'])
  t.not(r.code, 0)
  t.regex(r.stdout + r.stderr, /bridge\.zookeeper\.layout/)
  const r2 = await helm(['lint', '--strict', chartDir, ...tokenSet, '--set', 'bridge.zookeeper.zkConnect=x'])
  t.not(r2.code, 0)
  t.regex(r2.stdout + r2.stderr, /zkConnect/)
})
