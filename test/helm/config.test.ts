/**
 * The rendered gateway config and the pod spec agree: the ConfigMap's config.yaml passes the
 * gateway's own `isthmus start --check`; container ports, Services, NetworkPolicy and probes
 * use the listener ports of that config; termination grace covers preStop + drain; every file
 * path in the config is provided by a volume mount; a config change changes the checksum.
 */
import test from 'ava'
import { rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import {
  checkConfig, fullValuesFile, pick, renderedConfig, template, tempFile, tokenSet,
  type GatewayConfigView, type Manifest, type Rendered,
} from '../_helpers/helm.js'

const VARIANTS: Record<string, readonly string[]> = {
  'default values': tokenSet,
  'values-full.yaml': ['-f', fullValuesFile],
  'DaemonSet, bolt only, inline TLS on admin': [
    ...tokenSet, '--set', 'kind=DaemonSet', '--set', 'config.listeners.triple.enabled=false',
    '--set', 'config.listeners.admin.port=8443', '--set', 'config.drain.timeoutMs=60500', '--set', 'lifecycle.preStopSleepSeconds=0',
    '--set', 'tls.enabled=true', '--set', 'tls.admin=true', '--set', 'tls.requireClientCert=false',
    '--set', 'tls.cert=CERT', '--set', 'tls.key=KEY',
  ],
}

const renders = new Map<string, Promise<Rendered>>()
function render (variant: string): Promise<Rendered> {
  let r = renders.get(variant)
  if (r === undefined) { r = template(VARIANTS[variant]); renders.set(variant, r) }
  return r
}

interface Probe { httpGet: { path: string, port: number | string, scheme: string } }
interface Container {
  args: string[]
  ports: Array<{ name: string, containerPort: number }>
  readinessProbe: Probe
  livenessProbe: Probe
  startupProbe?: Probe
  lifecycle: { preStop: { exec: { command: string[] } } }
  volumeMounts: Array<{ name: string, mountPath: string, readOnly?: boolean }>
}
interface PodSpec {
  terminationGracePeriodSeconds: number
  containers: Container[]
  volumes: Array<{ name: string, emptyDir?: object, projected?: { sources: Array<Record<string, { items: Array<{ path: string }> }>> } }>
}
interface ServiceSpec { type: string, ports: Array<{ name: string, port: number, targetPort: string | number }> }
interface NetPolRule { ports: Array<{ port: number }>, from?: unknown[] }

function workload (r: Rendered): { kind: string, pod: PodSpec, podAnnotations: Record<string, string> } {
  const w = r.manifests.find(m => (m.kind === 'Deployment' || m.kind === 'DaemonSet') && !m.metadata.name.endsWith('-audit-exporter')) as unknown as
    { kind: string, spec: { template: { metadata: { annotations: Record<string, string> }, spec: PodSpec } } }
  return { kind: w.kind, pod: w.spec.template.spec, podAnnotations: w.spec.template.metadata.annotations }
}

function listenerPorts (cfg: GatewayConfigView): Map<string, number> {
  const out = new Map<string, number>()
  for (const name of ['triple', 'bolt', 'admin'] as const) {
    const l = cfg.listeners[name]
    if (l !== undefined) out.set(name, l.port)
  }
  return out
}

function resolvePort (c: Container, port: number | string): number | undefined {
  return typeof port === 'number' ? port : c.ports.find(p => p.name === port)?.containerPort
}

for (const variant of Object.keys(VARIANTS)) {
  test(`the ConfigMap's config.yaml passes isthmus start --check: ${variant}`, async t => {
    const { text } = renderedConfig(await render(variant))
    const file = await tempFile('config.yaml', text)
    t.teardown(() => rm(dirname(file), { recursive: true, force: true }))
    const r = await checkConfig(file)
    t.is(r.code, 0, `${r.stdout}${r.stderr}\n--- config.yaml ---\n${text}`)
    t.regex(r.stdout, /ok/)
  })

  test(`container ports, Services and NetworkPolicy use the config's listener ports: ${variant}`, async t => {
    const r = await render(variant)
    const cfg = renderedConfig(r).value
    const ports = listenerPorts(cfg)
    const c = workload(r).pod.containers[0]
    t.deepEqual(new Map(c.ports.map(p => [p.name, p.containerPort])), ports)
    for (const name of ports.keys()) t.is(cfg.listeners[name as 'admin'].host, '0.0.0.0', `${name} listens on the pod address`)
    t.deepEqual(c.args, ['start', '-c', '/etc/isthmus/config.yaml'])

    // Every Service targets a named container port; the admin port only through the admin Service.
    const services = r.manifests.filter(m => m.kind === 'Service') as unknown as Array<Manifest & { spec: ServiceSpec }>
    const targeted = new Set<string>()
    for (const s of services) {
      for (const p of s.spec.ports) {
        t.true(c.ports.some(cp => cp.name === p.targetPort), `${s.metadata.name}:${p.name} targets a container port`)
        targeted.add(String(p.targetPort))
        if (p.targetPort === 'admin') {
          t.true(s.metadata.name.endsWith('-admin'))
          t.is(s.spec.type, 'ClusterIP')
        }
      }
    }
    t.deepEqual([...targeted].sort(), [...ports.keys()].sort())

    const np = pick<{ spec: { ingress: NetPolRule[] } }>(r, 'NetworkPolicy')
    const adminRules = np.spec.ingress.filter(rule => rule.ports.some(p => p.port === ports.get('admin')))
    t.is(adminRules.length, 1, 'one rule opens the admin port')
    t.is(adminRules[0].ports.length, 1, 'the admin rule opens nothing else')
    t.true(Array.isArray(adminRules[0].from) && adminRules[0].from.length > 0, 'the admin rule names its peers')
    const dataPorts = [...ports].filter(([n]) => n !== 'admin').map(([, p]) => p).sort()
    const opened = np.spec.ingress.filter(rule => rule !== adminRules[0]).flatMap(rule => rule.ports.map(p => p.port)).sort()
    t.deepEqual(opened, dataPorts)
  })

  test(`probes hit /ready and /healthz on the admin port; grace covers preStop + drain: ${variant}`, async t => {
    const r = await render(variant)
    const cfg = renderedConfig(r).value
    const { pod } = workload(r)
    const c = pod.containers[0]
    const scheme = cfg.listeners.admin.tls !== undefined ? 'HTTPS' : 'HTTP'
    t.is(c.readinessProbe.httpGet.path, '/ready')
    t.is(c.livenessProbe.httpGet.path, '/healthz')
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      if (probe === undefined) continue
      t.is(resolvePort(c, probe.httpGet.port), cfg.listeners.admin.port)
      t.is(probe.httpGet.scheme, scheme)
    }
    const cmd = c.lifecycle.preStop.exec.command
    t.is(cmd[0], 'sleep')
    const preStopSeconds = Number(cmd[1])
    t.true(Number.isInteger(preStopSeconds) && preStopSeconds >= 0)
    t.true(pod.terminationGracePeriodSeconds > cfg.drain.timeoutMs / 1000 + preStopSeconds,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} must exceed drain ${cfg.drain.timeoutMs} ms + preStop ${preStopSeconds} s`)
  })

  test(`every path in the config is mounted in the pod: ${variant}`, async t => {
    const r = await render(variant)
    const cfg = renderedConfig(r).value
    const { pod } = workload(r)
    const c = pod.containers[0]
    const mountOf = (path: string): Container['volumeMounts'][number] | undefined =>
      c.volumeMounts.filter(m => path === m.mountPath || path.startsWith(m.mountPath + '/')).sort((a, b) => b.mountPath.length - a.mountPath.length)[0]
    const providesFile = (path: string): boolean => {
      const m = mountOf(path)
      if (m === undefined) return false
      const vol = pod.volumes.find(v => v.name === m.name)
      if (vol?.projected === undefined) return false
      const rel = path.slice(m.mountPath.length + 1)
      return vol.projected.sources.some(s => Object.values(s).some(src => src.items.some(i => i.path === rel)))
    }
    const writable = (path: string): boolean => {
      const m = mountOf(path)
      return m !== undefined && m.readOnly !== true && pod.volumes.find(v => v.name === m.name)?.emptyDir !== undefined
    }
    t.true(providesFile('/etc/isthmus/config.yaml'))
    const tokenFile = cfg.listeners.admin.tokenFile
    t.truthy(tokenFile, 'the admin listener has a token')
    t.true(providesFile(tokenFile ?? ''), `${tokenFile} is mounted`)
    for (const l of [cfg.listeners.triple, cfg.listeners.bolt, cfg.listeners.admin]) {
      for (const k of ['cert', 'key', 'ca'] as const) {
        const p = l?.tls?.[k]
        if (typeof p === 'string') t.true(providesFile(p), `${p} is mounted`)
      }
    }
    t.true(writable(cfg.state ?? ''), `state ${cfg.state} is on a writable emptyDir`)
    t.true(writable(`${cfg.audit?.dir ?? ''}/x`), `audit dir ${cfg.audit?.dir} is on a writable emptyDir`)
  })
}

test('values-full: the Redis password reaches the pod from its secret, never the ConfigMap', async t => {
  const r = await render('values-full.yaml')
  const { text, value } = renderedConfig(r)
  t.is(value.redis?.url, 'rediss://redis-master.platform.svc.cluster.local:6380/0')
  // Only the name of the variable that carries it, which the gateway reads at start.
  t.is(value.redis?.passwordEnv, 'ISTHMUS_REDIS_PASSWORD')
  t.notRegex(text.replace('passwordEnv: ISTHMUS_REDIS_PASSWORD', ''), /password/i)
  const env = (workload(r).pod.containers[0] as unknown as { env: Array<{ name: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }> }).env
  const pw = env.find(e => e.name === 'ISTHMUS_REDIS_PASSWORD')
  t.deepEqual(pw?.valueFrom?.secretKeyRef, { name: 'isthmus-redis', key: 'password' })
})

test('a config change changes the pod checksum (pods roll); the same values do not', async t => {
  const [a, b, c] = await Promise.all([
    template(tokenSet),
    template(tokenSet),
    template([...tokenSet, '--set', 'config.drain.timeoutMs=30000']),
  ])
  const sum = (r: Rendered): string => workload(r).podAnnotations['checksum/config']
  t.regex(sum(a), /^[0-9a-f]{64}$/)
  t.is(sum(a), sum(b))
  t.not(sum(a), sum(c))
})
