/**
 * The chart's audit values drive the audit trail: the gateway config's audit section (dir on
 * the audit volume, retention, the checkpoint signing key's path and its mount), the audit
 * exporter Deployment (`isthmus audit export` over the same config), and clear failures for
 * combinations that cannot work.
 */
import test from 'ava'
import { renderedConfig, template, tokenSet, fullValuesFile, type Rendered } from '../_helpers/helm.js'

interface Pod {
  containers: Array<{ args: string[], env?: Array<{ name: string, valueFrom?: unknown }>, volumeMounts: Array<{ name: string, mountPath: string }> }>
  volumes: Array<{ name: string, projected?: { sources: Array<{ secret?: { name: string, items: Array<{ key: string, path: string }> } }> }, persistentVolumeClaim?: { claimName: string } }>
}
interface Workload { kind: string, metadata: { name: string }, spec: { replicas?: number, strategy?: { type: string }, selector: { matchLabels: Record<string, string> }, template: { metadata: { labels: Record<string, string> }, spec: Pod } } }
type AuditView = { dir: string, queue: boolean, retain?: { maxBytes: number }, checkpoint?: { key?: string }, export?: { sinks?: unknown[] } }

function audit (r: Rendered): AuditView { return (renderedConfig(r).value as unknown as { audit: AuditView }).audit }
function workloads (r: Rendered): Workload[] { return r.manifests.filter(m => m.kind === 'Deployment') as unknown as Workload[] }

test('default values: the trail on the audit volume, retention under its size, unsigned (no TLS), no exporter', async t => {
  const r = await template(tokenSet)
  const a = audit(r)
  t.like(a, { dir: '/var/lib/isthmus/audit', queue: false, retain: { maxBytes: 536870912 } })
  t.is(a.checkpoint?.key, undefined)
  t.deepEqual(workloads(r).map(w => w.metadata.name), ['gw-isthmus'])
})

test('values-full: checkpoints signed with the TLS key; the exporter runs `audit export` on the same config, alone, off the gateway selector', async t => {
  const r = await template(['-f', fullValuesFile])
  const a = audit(r)
  t.is(a.checkpoint?.key, '/etc/isthmus/tls/tls.key')
  t.is(a.queue, true)
  t.true((a.export?.sinks?.length ?? 0) >= 1)
  const gw = workloads(r).find(w => w.metadata.name === 'gw-isthmus')!
  const ex = workloads(r).find(w => w.metadata.name === 'gw-isthmus-audit-exporter')!
  t.truthy(ex)
  t.deepEqual(ex.spec.template.spec.containers[0].args, ['audit', 'export', '-c', '/etc/isthmus/config.yaml'])
  t.is(ex.spec.replicas, 1)
  t.is(ex.spec.strategy?.type, 'Recreate')
  // The gateway's Services select its pods by these labels: exporter pods must not match them.
  const sel = gw.spec.selector.matchLabels
  const exLabels = ex.spec.template.metadata.labels
  t.false(Object.entries(sel).every(([k, v]) => exLabels[k] === v), 'exporter pods are not gateway pods')
  t.true((ex.spec.template.spec.containers[0].env ?? []).some(e => e.name === 'ISTHMUS_REDIS_PASSWORD'))
  t.is(ex.spec.template.spec.volumes.find(v => v.name === 'data')?.persistentVolumeClaim?.claimName, 'isthmus-audit-export')
})

test('auditSigningKey source secret: the key is projected where the config says', async t => {
  const r = await template([...tokenSet, '--set', 'auditSigningKey.source=secret', '--set', 'auditSigningKey.existingSecret=audit-key'])
  t.is(audit(r).checkpoint?.key, '/etc/isthmus/audit/audit-key.pem')
  const pod = workloads(r)[0].spec.template.spec
  const items = pod.volumes.find(v => v.name === 'config')!.projected!.sources.flatMap(s => s.secret?.name === 'audit-key' ? s.secret.items : [])
  t.deepEqual(items, [{ key: 'audit-key.pem', path: 'audit/audit-key.pem' }])
  t.true(pod.containers[0].volumeMounts.some(m => m.name === 'config' && m.mountPath === '/etc/isthmus'))
})

for (const f of [
  { what: 'the exporter without the queue', args: ['--set', 'auditExporter.enabled=true'], message: /auditExporter\.enabled needs config\.audit\.enabled and config\.audit\.queue/ },
  { what: 'the exporter without sinks', args: ['--set', 'auditExporter.enabled=true', '--set', 'config.audit.queue=true', '--set', 'redis.enabled=true', '--set', 'redis.url=redis://r:6379'], message: /auditExporter\.enabled needs config\.audit\.export\.sinks/ },
  { what: 'signing with the TLS key without TLS', args: ['--set', 'auditSigningKey.source=tls'], message: /auditSigningKey\.source tls needs tls\.enabled/ },
  { what: 'a signing key secret without its name', args: ['--set', 'auditSigningKey.source=secret'], message: /auditSigningKey\.source secret needs auditSigningKey\.existingSecret/ },
]) {
  test(`helm template fails clearly on ${f.what}`, async t => {
    const err = await t.throwsAsync(template([...tokenSet, ...f.args]))
    t.regex(err?.message ?? '', f.message)
  })
}

test('the schema rejects a misspelt audit key and a bad spool policy', async t => {
  t.regex((await t.throwsAsync(template([...tokenSet, '--set', 'config.audit.rotat.maxBytes=1'])))?.message ?? '', /rotat/)
  t.regex((await t.throwsAsync(template([...tokenSet, '--set', 'config.audit.spool.onFull=block'])))?.message ?? '', /onFull/)
})
