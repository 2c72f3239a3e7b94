/**
 * `isthmus bridge zookeeper`: options, their checks (one line and exit 2 on a bad one), and
 * the process around the bridge (signals: SIGTERM/SIGINT stop it, exit 0).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { CliIo } from '../cli.js'
import { DEFAULT_PARAMS, type ParamNames } from './provider-url.js'

export const ZK_USAGE = `Usage: isthmus bridge zookeeper --connect <zk> --admin <url> (--token-file <f> | --token-env <VAR> | --cert <f> --key <f>) <services> [options]

Reads SOFARPC providers from ZooKeeper (Java SOFARPC and sofa-rpc-node layouts) and pushes
them to an Isthmus gateway's admin API: one application-level push per appName, an
interface-level push for providers without one, incremental host changes afterwards.

ZooKeeper:
  --connect <hosts>          host:port[,host:port...][/chroot] (required)
  --root <path>              registry root (default /): Java SOFARPC reads <root>sofa-rpc/<interface>/providers,
                             sofa-rpc-node <root><interface>/providers (its default root /sofa-rpc/ is the same tree)
  --layout <auto|java|node>  which of the two (default auto: java when <root>sofa-rpc exists)
  --session-timeout-ms <n>   ZooKeeper session timeout (default 30000)

Admin API:
  --admin <url>              the gateway's admin API, http(s)://host:port (required)
  --token-file <file>        Bearer token file, re-read when the admin refuses the token (or --token-env <VAR>)
  --cert <file> --key <file> admin client certificate (mTLS); --ca <file> verifies the admin server
  --admin-servername <name>  check the admin server's certificate for this name (default: the --admin host)
  --admin-timeout-ms <n>     deadline of one admin request (default 10000)

Services (at least one; an entity exports only what it means to):
  --service <name>           export this interface (repeatable)
  --service-prefix <prefix>  export interfaces starting with it (repeatable)
  --all-services             export every interface found

Mapping (provider URL parameter -> Isthmus):
  --map <field>=<param>      field: app (appName), version (version), group (uniqueId), zone (zone), weight (weight)
  --label <key>=<param>      copy a URL parameter into a host label (repeatable)
  --bridge-id <id>           value of the host label "bridge" marking what this bridge owns (default zookeeper)

Behaviour:
  --coalesce-ms <n>          a burst of changes becomes one push per app after this delay (default 100)
  --retry-max-ms <n>         cap of the retry back-off (default 10000)
  --verify-interval-ms <n>   re-check the admin's revisions this often (default 30000, 0: off)
  --metrics-host <host>      /metrics /ready /healthz /status listen here (default 127.0.0.1)
  --metrics-port <n>         (default 9902; 0 picks a free port)
  --log-level <level>        (default info)
  -h, --help                 show this help

Signals: SIGTERM/SIGINT stop the bridge (exit 0); the gateway keeps what was pushed.`

export interface ZkBridgeOptions {
  connect: string
  root: string
  layout: 'auto' | 'java' | 'node'
  sessionTimeoutMs: number
  admin: string
  token?: string
  /** The file `token` was read from (re-read when the admin refuses the token). */
  tokenFile?: string
  tls?: { cert?: string, key?: string, ca?: string, servername?: string }
  adminTimeoutMs: number
  services: string[]
  prefixes: string[]
  allServices: boolean
  params: ParamNames
  labels: Array<[string, string]>
  bridgeId: string
  coalesceMs: number
  retryMaxMs: number
  verifyIntervalMs: number
  metricsHost: string
  metricsPort: number
  logLevel: string
}

/** A bad option: the message is the whole CLI line. */
export class UsageError extends Error {}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
const CONNECT_RE = /^[A-Za-z0-9.:[\]-]+(,[A-Za-z0-9.:[\]-]+)*(\/[^\s]*)?$/
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/

export function parseZkOptions (argv: string[], env: NodeJS.ProcessEnv = process.env): ZkBridgeOptions | 'help' {
  let v: Record<string, string | boolean | string[] | undefined>
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        connect: { type: 'string' }, root: { type: 'string' }, layout: { type: 'string' },
        'session-timeout-ms': { type: 'string' },
        admin: { type: 'string' }, 'token-file': { type: 'string' }, 'token-env': { type: 'string' },
        cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' }, 'admin-servername': { type: 'string' }, 'admin-timeout-ms': { type: 'string' },
        service: { type: 'string', multiple: true }, 'service-prefix': { type: 'string', multiple: true }, 'all-services': { type: 'boolean' },
        map: { type: 'string', multiple: true }, label: { type: 'string', multiple: true }, 'bridge-id': { type: 'string' },
        'coalesce-ms': { type: 'string' }, 'retry-max-ms': { type: 'string' }, 'verify-interval-ms': { type: 'string' },
        'metrics-host': { type: 'string' }, 'metrics-port': { type: 'string' }, 'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  if (v.help === true) return 'help'
  const str = (k: string): string | undefined => v[k] as string | undefined
  const list = (k: string): string[] => (v[k] as string[] | undefined) ?? []

  const connect = str('connect')
  if (connect === undefined) throw new UsageError('--connect is required (host:port[,host:port][/chroot])')
  if (!CONNECT_RE.test(connect)) throw new UsageError(`--connect ${JSON.stringify(connect)}: expected host:port[,host:port][/chroot]`)
  let root = str('root') ?? '/'
  if (!root.startsWith('/') || /\/\/|\s/.test(root)) throw new UsageError(`--root ${JSON.stringify(root)}: must be an absolute ZooKeeper path`)
  if (!root.endsWith('/')) root += '/'
  const layout = str('layout') ?? 'auto'
  if (layout !== 'auto' && layout !== 'java' && layout !== 'node') throw new UsageError(`--layout ${JSON.stringify(layout)}: must be auto, java or node`)

  const admin = str('admin')
  if (admin === undefined) throw new UsageError('--admin is required (the gateway admin API URL, e.g. http://127.0.0.1:9901)')
  let adminUrl: URL
  try { adminUrl = new URL(admin) } catch { throw new UsageError(`--admin ${JSON.stringify(admin)}: not a URL`) }
  if (adminUrl.protocol !== 'http:' && adminUrl.protocol !== 'https:') throw new UsageError(`--admin ${JSON.stringify(admin)}: must be http:// or https://`)

  let token: string | undefined
  const tokenFile = str('token-file')
  const tokenEnv = str('token-env')
  if (tokenFile !== undefined && tokenEnv !== undefined) throw new UsageError('give one of --token-file and --token-env')
  if (tokenFile !== undefined) {
    try { token = readFileSync(tokenFile, 'utf8').trim() } catch (err) { throw new UsageError(`--token-file ${tokenFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`) }
    if (token === '') throw new UsageError(`--token-file ${tokenFile}: the file is empty`)
  }
  if (tokenEnv !== undefined) {
    token = env[tokenEnv]?.trim()
    if (token === undefined || token === '') throw new UsageError(`--token-env ${tokenEnv}: the variable is not set or empty`)
  }
  const cert = str('cert')
  const key = str('key')
  const ca = str('ca')
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together')
  const servername = str('admin-servername')
  if ((cert !== undefined || ca !== undefined || servername !== undefined) && adminUrl.protocol !== 'https:') throw new UsageError('--cert/--key/--ca/--admin-servername need an https:// --admin URL')
  if (servername !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(servername)) throw new UsageError(`--admin-servername ${JSON.stringify(servername)}: not a DNS name`)
  if (token === undefined && cert === undefined && !isLoopback(adminUrl.hostname)) {
    throw new UsageError('--admin is not on loopback: give --token-file, --token-env or --cert/--key')
  }

  const services = list('service')
  const prefixes = list('service-prefix')
  const allServices = v['all-services'] === true
  if (services.length === 0 && prefixes.length === 0 && !allServices) throw new UsageError('say which services to export: --service, --service-prefix or --all-services')
  for (const s of [...services, ...prefixes]) if (s === '' || /\s|\//.test(s)) throw new UsageError(`service filter ${JSON.stringify(s)}: not an interface name or prefix`)

  const params: ParamNames = { ...DEFAULT_PARAMS }
  for (const m of list('map')) {
    const [field, param] = pair(m, '--map')
    if (!(field in params)) throw new UsageError(`--map ${m}: unknown field "${field}" (app, version, group, zone, weight)`)
    params[field as keyof ParamNames] = param
  }
  const labels: Array<[string, string]> = []
  for (const l of list('label')) {
    const [k, param] = pair(l, '--label')
    if (k.startsWith('service:') || k === 'bridge') throw new UsageError(`--label ${l}: the label key "${k}" is reserved`)
    labels.push([k, param])
  }
  const bridgeId = str('bridge-id') ?? 'zookeeper'
  if (!NAME_RE.test(bridgeId)) throw new UsageError(`--bridge-id ${JSON.stringify(bridgeId)}: letters, digits, '.', '_' and '-' only (at most 64)`)

  const logLevel = str('log-level') ?? 'info'
  if (!LEVELS.has(logLevel)) throw new UsageError(`--log-level ${logLevel}: must be one of ${[...LEVELS].join(', ')}`)
  return {
    connect, root, layout, sessionTimeoutMs: int(str('session-timeout-ms'), '--session-timeout-ms', 30000, 1000, 600000),
    admin, token, tokenFile, tls: cert === undefined && ca === undefined && servername === undefined ? undefined : { cert, key, ca, servername },
    adminTimeoutMs: int(str('admin-timeout-ms'), '--admin-timeout-ms', 10000, 100, 600000),
    services, prefixes, allServices, params, labels, bridgeId,
    coalesceMs: int(str('coalesce-ms'), '--coalesce-ms', 100, 0, 60000),
    retryMaxMs: int(str('retry-max-ms'), '--retry-max-ms', 10000, 100, 600000),
    verifyIntervalMs: int(str('verify-interval-ms'), '--verify-interval-ms', 30000, 0, 86400000),
    metricsHost: str('metrics-host') ?? '127.0.0.1',
    metricsPort: int(str('metrics-port'), '--metrics-port', 9902, 0, 65535),
    logLevel,
  }
}

function pair (s: string, flag: string): [string, string] {
  const i = s.indexOf('=')
  if (i <= 0 || i === s.length - 1) throw new UsageError(`${flag} ${s}: expected <key>=<param>`)
  return [s.slice(0, i), s.slice(i + 1)]
}

function int (s: string | undefined, flag: string, dflt: number, min: number, max: number): number {
  if (s === undefined) return dflt
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new UsageError(`${flag} ${s}: must be an integer from ${min} to ${max}`)
  return Number(s)
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** The command: parse, run until a signal. */
export async function runZookeeperBridge (argv: string[], io: CliIo): Promise<number> {
  let o: ZkBridgeOptions | 'help'
  try {
    o = parseZkOptions(argv)
  } catch (err) {
    if (err instanceof UsageError) { io.err(`isthmus: bridge zookeeper: ${err.message} (run "isthmus bridge zookeeper --help")`); return 2 }
    throw err
  }
  if (o === 'help') { io.out(ZK_USAGE); return 0 }
  const { startZookeeperBridge } = await import('./run.js')
  let running: Awaited<ReturnType<typeof startZookeeperBridge>>
  try {
    running = await startZookeeperBridge(o)
  } catch (err) {
    io.err(`isthmus: bridge zookeeper: ${(err as Error).message}`)
    return 1
  }
  return new Promise<number>((resolve) => {
    let signals = 0
    const onSignal = (sig: NodeJS.Signals): void => {
      if (++signals > 1) { resolve(1); return }
      running.logger.info({ sig }, 'signal: stopping the bridge')
      running.close().then(() => resolve(0), (err: unknown) => { running.logger.error({ err }, 'close failed'); resolve(1) })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}
