/** The chart's ZooKeeper bridge sidecar: off by default; when on, a valid container the bridge's own parser accepts. */
import test from 'ava'
import { parseZkOptions } from '../../bridge/zookeeper/cli.js'
import { chartDir, helm, pick, template, tempFile, tokenSet, validateManifest } from '../_helpers/helm.js'

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
type Dep = { spec: { template: { spec: { containers: Container[] } } } }

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

const FAILS: Array<{ what: string, args: string[], message: RegExp }> = [
  { what: 'no connect', args: [...tokenSet, '--set', 'bridge.zookeeper.enabled=true', '--set', 'bridge.zookeeper.allServices=true'], message: /bridge\.zookeeper\.connect is required/ },
  { what: 'no service filter', args: [...tokenSet, '--set', 'bridge.zookeeper.enabled=true', '--set', 'bridge.zookeeper.connect=zk:2181'], message: /say which services to export/ },
  { what: 'admin TLS', args: [...ON, '--set', 'tls.enabled=true', '--set', 'tls.cert=C', '--set', 'tls.key=K', '--set', 'tls.ca=A', '--set', 'tls.admin=true'], message: /tls\.admin is not supported yet/ },
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
