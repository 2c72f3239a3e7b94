/**
 * One ZooKeeper provider node -> a Provider. Both SOFARPC flavours name the node after the
 * provider URL, URL-encoded: Java SOFARPC with URLEncoder (`+` for space, raw values inside),
 * sofa-rpc-node with encodeURIComponent of a WHATWG URL (form-encoded values inside):
 *
 *   bolt://10.0.0.5:12200?version=1.0&uniqueId=&weight=100&appName=pay&startTime=...
 *
 * Node names are written by other companies' processes: everything is checked, and a node
 * that does not parse is skipped with a reason (counted), never guessed at.
 */
import type { BridgeProtocol, Provider } from '../model.js'

/** Which URL parameter feeds each field (the `--map field=param` options). */
export interface ParamNames {
  app: string
  version: string
  group: string
  zone: string
  weight: string
}

export const DEFAULT_PARAMS: Readonly<ParamNames> = Object.freeze({
  app: 'appName', version: 'version', group: 'uniqueId', zone: 'zone', weight: 'weight',
})

export interface ProviderMapping {
  readonly params: Readonly<ParamNames>
  /** Host labels copied from URL parameters: [label key, parameter]. */
  readonly labels: ReadonlyArray<readonly [string, string]>
  /** Extra label on every host: marks the resources this bridge owns. */
  readonly ownerLabel: readonly [string, string]
}

/** SOFARPC's default provider weight. */
export const DEFAULT_WEIGHT = 100
const MAX_WEIGHT = 1000

/** URL schemes the gateway can forward, by SOFARPC protocol name. */
const PROTOCOLS: Readonly<Record<string, BridgeProtocol>> = { bolt: 'bolt', tri: 'triple', triple: 'triple' }

/** Reasons a node is skipped (a metric label: a fixed set). */
export type SkipReason = 'bad-url' | 'protocol' | 'disabled' | 'other-interface'

export const APP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,118}$/
const LABEL_VALUE_MAX = 256
const NODE_NAME_MAX = 8192

export function parseProviderNode (service: string, node: string, m: ProviderMapping): Provider | SkipReason {
  if (node.length > NODE_NAME_MAX) return 'bad-url'
  let text: string
  try {
    text = decodeURIComponent(node.replace(/\+/g, '%20'))
  } catch {
    return 'bad-url'
  }
  const colon = text.indexOf('://')
  if (colon <= 0) return 'bad-url'
  const scheme = text.slice(0, colon).toLowerCase()
  const protocol = PROTOCOLS[scheme]
  const qAt = text.indexOf('?')
  let url: URL
  try {
    // Parse with a neutral scheme: WHATWG URL treats unknown schemes as opaque paths.
    url = new URL('http' + text.slice(colon, qAt < 0 ? undefined : qAt))
  } catch {
    return 'bad-url'
  }
  if (url.username !== '' || url.password !== '') return 'bad-url'
  const address = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  // An explicit port: the WHATWG parser drops one equal to the http default (80).
  const authority = /^[^/?#]*/.exec(text.slice(colon + 3))![0]
  const port = url.port === '' ? (authority.endsWith(':80') ? 80 : NaN) : Number(url.port)
  if (address === '' || !Number.isInteger(port) || port < 1 || port > 65535) return 'bad-url'
  if (protocol === undefined) return 'protocol'
  const q = parseQuery(qAt < 0 ? '' : text.slice(qAt + 1))
  // sofa-rpc-node registers `interface=` and honours `enabled` and `category`.
  const iface = q.get('interface')
  if (iface !== undefined && iface !== '' && iface !== service) return 'other-interface'
  const enabled = q.get('enabled')
  if (enabled !== undefined && enabled !== '' && enabled !== 'true') return 'disabled'
  const category = q.get('category')
  if (category !== undefined && category !== '' && category !== 'providers') return 'disabled'

  const appRaw = q.get(m.params.app) ?? ''
  const weight = parseWeight(q.get(m.params.weight), DEFAULT_WEIGHT)
  const labels: Record<string, string> = {}
  for (const [key, param] of m.labels) {
    const v = q.get(param)
    if (v !== undefined && v !== '' && v.length <= LABEL_VALUE_MAX) labels[key] = v
  }
  labels[m.ownerLabel[0]] = m.ownerLabel[1]
  const zone = q.get(m.params.zone)
  return {
    service,
    protocol,
    address,
    port,
    app: APP_NAME_RE.test(appRaw) ? appRaw : undefined,
    version: q.get(m.params.version) ?? '',
    group: q.get(m.params.group) ?? '',
    zone: zone !== undefined && zone !== '' && zone.length <= LABEL_VALUE_MAX ? zone : undefined,
    weight,
    warmup: warmupOf(q, weight),
    labels: Object.freeze(labels),
    language: q.get('language') ?? '',
  }
}

/**
 * The query of a decoded provider URL. sofa-rpc-node form-encodes the values (URLSearchParams)
 * before encoding the whole URL; Java SOFARPC appends them raw (`language=java`), so a `+` or
 * `%` in a Java value is itself. Later duplicates of a key are ignored, as Java's parser does.
 */
function parseQuery (query: string): Map<string, string> {
  const pairs = query === '' ? [] : query.split('&')
  const raw = pairs.includes('language=java')
  const q = new Map<string, string>()
  for (const pair of pairs) {
    const i = pair.indexOf('=')
    const k = i < 0 ? pair : pair.slice(0, i)
    const v = i < 0 ? '' : pair.slice(i + 1)
    if (k === '' || q.has(k)) continue
    q.set(k, raw ? v : formDecode(v))
  }
  return q
}

function formDecode (v: string): string {
  try { return decodeURIComponent(v.replace(/\+/g, ' ')) } catch { return v }
}

/** A weight parameter as the admin accepts it (1..1000); SOFARPC's default when absent. */
function parseWeight (v: string | undefined, fallback: number): number {
  if (v === undefined || !/^\d{1,9}$/.test(v)) return fallback
  return Math.min(MAX_WEIGHT, Math.max(1, Number(v)))
}

/**
 * SOFARPC warm-up (RegistryUtils.processWarmUpWeight): with `warmupTime`, `warmupWeight`
 * and `startTime` all present, the provider weighs `warmupWeight` until
 * startTime + warmupTime, then its weight. A step, not a ramp.
 */
function warmupOf (q: ReadonlyMap<string, string>, weight: number): Provider['warmup'] {
  const time = q.get('warmupTime')
  const w = q.get('warmupWeight')
  const start = q.get('startTime')
  if (time === undefined || w === undefined || start === undefined || !/^\d{1,15}$/.test(time) || !/^\d{1,15}$/.test(start)) return undefined
  const until = Number(start) + Number(time)
  if (Number(time) === 0) return undefined
  return { weight: parseWeight(w, weight), until }
}
