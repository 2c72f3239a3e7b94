/**
 * Harness for the hostile-client tests (test/hostile/): the compiled gateway as its own
 * process (a crash shows as an exit), real upstreams (grpc-js, sofa-rpc-node), healthy
 * grpc-js and sofa-rpc-node clients calling through it the whole time with error counters,
 * and what a test needs to judge the gateway from outside: fds (/proc/<pid>/fd), metrics
 * scraped from /metrics, polling with a generous timeout. Loopback only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { startEchoServer, type EchoServer } from '../_peers/grpc-echo.js'
import { spawnGateway, type RunningGateway } from './cli.js'
import { HEALTHY_DEADLINE_MS, grpcLoop, sofaLoop, type HealthyLoop } from './hostile-healthy.js'
import { RawConn } from './hostile-net.js'
import { startHostileSofa, type HostileSofa, SOFA_SERVICE } from './hostile-sofa.js'
import { WAIT_MS, fdCount, httpCall, samples, sleep, waitFor, type Labels } from './hostile-util.js'

export { SOFA_SERVICE, SOFA_VERSION, SOFA_SERVICE_B, sofaClient, sofaConsumer } from './hostile-sofa.js'
export * from './hostile-net.js'
export * from './hostile-util.js'
export * from './hostile-healthy.js'

export const ECHO_SERVICE = 'isthmus.test.Echo'
export const ADMIN_TOKEN = 'hostile-admin-token'
/** fds the process may hold beyond its baseline once settled (a scrape socket closing, a timer fd). */
export const FD_SLACK = 3

// ---------------------------------------------------------------------------------------
// The gateway under attack

export interface HostileOptions {
  /** Extra keys of `listeners.triple` (limits, http2, http1); false: no Triple listener. */
  triple?: Record<string, unknown> | false
  /** Extra keys of `listeners.bolt` (limits, idleTimeoutMs); false: no Bolt listener. */
  bolt?: Record<string, unknown> | false
  /** Extra keys of `listeners.admin` (replace the token with `{ token: undefined }`). */
  admin?: Record<string, unknown>
  /** Extra clusters (built once the upstreams listen: `up` has their ports). */
  clusters?: (up: Upstreams) => Array<Record<string, unknown>>
  /** Routes placed before the healthy clients' routes. */
  routes?: Array<Record<string, unknown>>
  filters?: Array<Record<string, unknown>>
  /** Other top-level config keys (policies, ...). */
  extra?: Record<string, unknown>
  /** Files written into the config directory before start (user filter modules). */
  files?: Record<string, string>
  /** Healthy client concurrency per kind (0: none). */
  healthy?: { grpc?: number, sofa?: number, deadlineMs?: number }
  /** Settings of the healthy clusters' `upstream` section. */
  healthyUpstream?: Record<string, unknown>
  /** timeoutMs of the healthy routes (default 20000). */
  routeTimeoutMs?: number
}

export interface Upstreams { echo: EchoServer, sofa: HostileSofa }

export interface Baseline { fds: number, triple: number, bolt: number, upstreamTriple: number, upstreamBolt: number }

/** Where a test started: healthy counters, and fds/gauges (a test returns to these, or to the file's baseline if lower). */
export interface Mark { calls: number[], errors: number[], at: Baseline }

/**
 * One spawned gateway with its upstreams and healthy clients. `start` waits until every
 * healthy client has succeeded a few times, then records the baseline (fds, connection
 * gauges) that `expectRecovered` waits to come back to.
 */
export class HostileGateway {
  readonly dir: string
  readonly configFile: string
  readonly up: Upstreams
  readonly run: RunningGateway
  readonly loops: HealthyLoop[] = []
  stderr = ''
  /** The admin token, null in the open loopback mode. */
  token: string | null = ADMIN_TOKEN
  exit: { code: number | null, signal: NodeJS.Signals | null } | null = null
  baseline: Baseline = { fds: 0, triple: 0, bolt: 0, upstreamTriple: 0, upstreamBolt: 0 }

  private constructor (dir: string, configFile: string, up: Upstreams, run: RunningGateway) {
    this.dir = dir
    this.configFile = configFile
    this.up = up
    this.run = run
    run.child.stderr!.on('data', (c: Buffer) => { this.stderr += c.toString() })
    void run.exited.then((e) => { this.exit = e })
  }

  get pid (): number { return this.run.child.pid! }
  get triplePort (): number { return this.run.ports.triple }
  get boltPort (): number { return this.run.ports.bolt }
  get adminPort (): number { return this.run.ports.admin }

  static async start (o: HostileOptions = {}): Promise<HostileGateway> {
    const dir = mkdtempSync(join(tmpdir(), 'isthmus-hostile-'))
    let echo: EchoServer | null = null
    let sofa: HostileSofa | null = null
    try {
      echo = await startEchoServer('echo')
      sofa = await startHostileSofa()
      const up = { echo, sofa }
      for (const [name, text] of Object.entries(o.files ?? {})) writeFileSync(join(dir, name), text)
      const config = hostileConfig(up, o)
      const configFile = join(dir, 'config.yaml')
      writeFileSync(configFile, JSON.stringify(config, null, 2))
      const listeners = ['admin']
      if (o.triple !== false) listeners.push('triple')
      if (o.bolt !== false) listeners.push('bolt')
      const run = await spawnGateway(configFile, listeners)
      const gw = new HostileGateway(dir, configFile, up, run)
      if (o.admin !== undefined && 'token' in o.admin) gw.token = typeof o.admin.token === 'string' ? o.admin.token : null
      try {
        await gw.#startHealthy(o)
      } catch (err) {
        await gw.close()
        throw err
      }
      return gw
    } catch (err) {
      await echo?.close()
      await sofa?.close()
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }

  async #startHealthy (o: HostileOptions): Promise<void> {
    const h = o.healthy ?? {}
    const deadline = h.deadlineMs ?? HEALTHY_DEADLINE_MS
    if (o.triple !== false && (h.grpc ?? 2) > 0) this.loops.push(grpcLoop(this.triplePort, deadline).start(h.grpc ?? 2))
    if (o.bolt !== false && (h.sofa ?? 2) > 0) this.loops.push((await sofaLoop(this.boltPort, deadline)).start(h.sofa ?? 2))
    await waitFor(() => this.loops.every(l => l.calls >= 5), 'the healthy clients to succeed through the gateway')
    for (const l of this.loops) if (l.errors > 0) throw new Error(`healthy ${l.name} failed before any attack: ${l.samples.join('; ')}`)
    this.baseline = await this.#measure()
  }

  async #measure (): Promise<Baseline> {
    const text = await this.metricsText()
    const one = (name: string, labels: Labels): number => samples(text, name, labels).reduce((a, s) => a + s.value, 0)
    return {
      fds: fdCount(this.pid),
      triple: one('isthmus_downstream_connections', { listener: 'triple' }),
      bolt: one('isthmus_downstream_connections', { listener: 'bolt' }),
      upstreamTriple: one('isthmus_upstream_sessions', { protocol: 'triple' }),
      upstreamBolt: one('isthmus_upstream_sessions', { protocol: 'bolt' }),
    }
  }

  /** A raw connection to one of the gateway's ports, connected (or an error naming how the gateway ended). */
  async connect (port: number, opts: { localAddress?: string, read?: boolean, first?: Buffer } = {}): Promise<RawConn> {
    const c = new RawConn(port, opts)
    try {
      await c.connected
    } catch {
      await sleep(100)
      throw new Error(`cannot connect to the gateway (port ${port}): ${this.describeExit()}`)
    }
    return c
  }

  /** The process has not exited. */
  alive (): boolean { return this.exit === null && this.run.child.exitCode === null && this.run.child.signalCode === null }

  describeExit (): string {
    return this.exit === null ? 'running' : `exited code=${String(this.exit.code)} signal=${String(this.exit.signal)}; stderr: ${this.stderr.slice(-1500)}`
  }

  async metricsText (): Promise<string> {
    const r = await httpCall(this.adminPort, 'GET', '/metrics')
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
    return r.body
  }

  /** Sum of the samples of `name` whose labels include `labels` (0 when there is none). */
  async scrape (name: string, labels: Labels = {}): Promise<number> {
    return samples(await this.metricsText(), name, labels).reduce((a, s) => a + s.value, 0)
  }

  /** `isthmus_limit_trips_total{listener, limit}` (0 before the first trip). */
  trips (listener: 'triple' | 'bolt', limit: string): Promise<number> {
    return this.scrape('isthmus_limit_trips_total', { listener, limit })
  }

  /** Every trip counter, for assertion messages: `bolt/frame=3 triple/idle=1 ...`. */
  async tripsSummary (): Promise<string> {
    return samples(await this.metricsText(), 'isthmus_limit_trips_total').map(x => `${x.labels.listener}/${x.labels.limit}=${x.value}`).join(' ') || '(no trips)'
  }

  /** Admin request with the token (none in the open mode); a body that is not a string is sent as JSON. */
  admin (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): ReturnType<typeof httpCall> {
    const h: Record<string, string> = { ...(this.token === null ? {} : { authorization: `Bearer ${this.token}` }), ...headers }
    if (body !== undefined && h['content-type'] === undefined) h['content-type'] = 'application/json'
    return httpCall(this.adminPort, method, path, { headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
  }

  async mark (): Promise<Mark> {
    const m = await this.#measure()
    const b = this.baseline
    const at: Baseline = {
      fds: Math.max(b.fds, m.fds - (m.upstreamTriple - b.upstreamTriple) - (m.upstreamBolt - b.upstreamBolt)),
      triple: Math.max(b.triple, m.triple),
      bolt: Math.max(b.bolt, m.bolt),
      upstreamTriple: b.upstreamTriple,
      upstreamBolt: b.upstreamBolt,
    }
    return { calls: this.loops.map(l => l.calls), errors: this.loops.map(l => l.errors), at }
  }

  /** Log records (stdout JSON) seen so far. */
  get logs (): Array<Record<string, unknown>> { return this.run.logs }

  /**
   * Wait (generous timeout) until fds and connection gauges are back to `ref` (default the
   * file's baseline); upstream connections opened meanwhile are allowed for.
   */
  async waitSettled (ref: Baseline = this.baseline, timeoutMs = WAIT_MS): Promise<{ ok: boolean, baseline: Baseline, now: Baseline | null }> {
    let last: Baseline | null = null
    try {
      await waitFor(async () => {
        const m = await this.#measure()
        last = m
        const upstreamDelta = (m.upstreamTriple - ref.upstreamTriple) + (m.upstreamBolt - ref.upstreamBolt)
        return m.triple <= ref.triple && m.bolt <= ref.bolt && m.fds <= ref.fds + Math.max(0, upstreamDelta) + FD_SLACK
      }, 'fds and connection gauges back to the baseline', timeoutMs)
      return { ok: true, baseline: ref, now: last }
    } catch {
      return { ok: false, baseline: ref, now: last }
    }
  }

  /** The process is alive, and fds and connection gauges are back to where the test started (`mark`) or the file's baseline. */
  async expectSettled (t: ExecutionContext, what = 'the attack', mark?: Mark): Promise<void> {
    t.true(this.alive(), `gateway process after ${what}: ${this.describeExit()}`)
    const r = await this.waitSettled(mark?.at ?? this.baseline)
    t.true(r.ok, `fds and connection gauges back to the baseline after ${what}: baseline ${JSON.stringify(r.baseline)}, now ${JSON.stringify(r.now)}`)
  }

  /**
   * The contract every hostile test ends with: `expectSettled`, then every healthy client
   * made progress after the attack and none saw an error since `mark`.
   */
  async expectRecovered (t: ExecutionContext, mark: Mark, what = 'the attack'): Promise<void> {
    await this.expectSettled(t, what, mark)
    // Healthy calls that were in flight during the attack have finished, and new ones pass.
    const target = this.loops.map(l => l.calls + l.errors + 3)
    try {
      await waitFor(() => this.loops.every((l, i) => l.calls + l.errors >= target[i]) || !this.alive(), 'healthy clients to make progress', WAIT_MS)
    } catch (err) {
      t.fail((err as Error).message)
    }
    this.loops.forEach((l, i) => {
      t.is(l.errors - (mark.errors[i] ?? 0), 0, `healthy ${l.name} errors during ${what}: ${l.samples.join(' | ')}`)
      t.true(l.calls > (mark.calls[i] ?? 0), `healthy ${l.name} made progress during ${what}`)
    })
  }

  /** Kill the gateway and the peers; idempotent, never throws. */
  async close (): Promise<void> {
    await Promise.all(this.loops.map(l => l.stop().catch(() => {})))
    this.loops.length = 0
    if (this.alive()) this.run.child.kill('SIGKILL')
    await Promise.race([this.run.exited, sleep(5000)])
    await this.up.echo.close().catch(() => {})
    this.up.echo.kill()
    await this.up.sofa.close().catch(() => {})
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** The gateway config: Triple + Bolt + admin on 127.0.0.1:0, clusters for both healthy clients. */
export function hostileConfig (up: Upstreams, o: HostileOptions): Record<string, unknown> {
  const listeners: Record<string, unknown> = {
    admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN, ...o.admin },
  }
  if (o.triple !== false) listeners.triple = { host: '127.0.0.1', port: 0, ...o.triple }
  if (o.bolt !== false) listeners.bolt = { host: '127.0.0.1', port: 0, ...o.bolt }
  const healthyUpstream = o.healthyUpstream ?? {}
  return {
    entity: 'hostile',
    listeners,
    clusters: [
      { name: 'echo', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: up.echo.port }], upstream: healthyUpstream },
      { name: 'sofa', protocol: 'bolt', hosts: [{ address: '127.0.0.1', port: up.sofa.port }], upstream: healthyUpstream },
      ...(o.clusters?.(up) ?? []),
    ],
    routes: [
      ...(o.routes ?? []),
      { name: 'healthy-triple', match: { protocol: 'triple', service: ECHO_SERVICE }, cluster: 'echo', timeoutMs: o.routeTimeoutMs ?? 20000 },
      { name: 'healthy-bolt', match: { protocol: 'bolt', service: SOFA_SERVICE }, cluster: 'sofa', timeoutMs: o.routeTimeoutMs ?? 20000 },
    ],
    filters: o.filters ?? [],
    log: { level: 'info', access: 'off' },
    drain: { timeoutMs: 1000 },
    ...o.extra,
  }
}

/**
 * One gateway per test file: started in `before`, killed in `after.always` (also on failure).
 * Tests in the file run serially (`test.serial`) and share it.
 */
export function hostileSuite (test: { before: (fn: (t: ExecutionContext) => Promise<void>) => void, after: { always: (fn: () => Promise<void>) => void } }, o: HostileOptions): { readonly gw: HostileGateway } {
  const holder: { gw: HostileGateway | null } = { gw: null }
  test.before(async () => { holder.gw = await HostileGateway.start(o) })
  test.after.always(async () => { await holder.gw?.close() })
  return {
    get gw (): HostileGateway {
      if (holder.gw === null) throw new Error('the gateway did not start')
      return holder.gw
    },
  }
}

/**
 * Logged lines that say the process met an error nothing handled: fatal records, "uncaught" /
 * "unhandled" messages, a stack trace on stderr. (An error a catch boundary answered and logged
 * is the contract working, not a finding.)
 */
export function uncaughtErrors (gw: HostileGateway): string[] {
  const out: string[] = []
  for (const l of gw.logs) {
    const text = JSON.stringify(l)
    if ((typeof l.level === 'number' && l.level >= 60) || /uncaught|unhandled/i.test(text)) out.push(text.slice(0, 500))
  }
  if (/Uncaught|Unhandled|TypeError|RangeError|ReferenceError|URIError|node:internal|\bat .*\(.*:\d+:\d+\)/.test(gw.stderr)) out.push(`stderr: ${gw.stderr.slice(-1500)}`)
  return out
}
