import { now } from '../util/read-clock.js'
import type { Logger } from 'pino'
import { CONTINUE, type Continue } from '../chain/filter-api.js'
import { LocalReply, localReplyFor } from '../chain/local-reply.js'
import { Call, type Protocol } from '../call/call.js'
import type { CallHeaders } from '../call/headers.js'
import { Phase } from '../call/phase.js'
import type { CompiledChain } from '../chain/compiled-chain.js'
import { PENDING, runEventHooks, runHooks, runLogHooks, runUpstreamHooks, type RunResult } from '../chain/runner.js'
import type { CallEvent } from '../call/call-event.js'
import type { Snapshot } from '../config/snapshot.js'
import type { Cluster } from '../cluster/cluster.js'
import type { Host } from '../cluster/host.js'
import type { ClusterHealth } from '../cluster/outlier.js'
import type { RetryOptions } from '../config/options.js'
import { callMetrics, OTHER_LABEL } from '../metrics.js'

/**
 * A Call as a protocol driver sees it: the snapshot and chain it runs under, and the two
 * things a driver must do: forward to the chosen host, or send a local reply. The request
 * phases (BeforeRoute -> Route -> AfterRoute -> ChooseHost -> AfterHost) and the Response
 * and Log phases are the same for Triple and Bolt and live here.
 */
export abstract class ProxiedCall extends Call {
  readonly snapshot: Snapshot
  readonly chain: CompiledChain
  readonly logger: Logger
  /** The cluster health this call counts in (`active`) from host choice to its end. */
  held: ClusterHealth | null
  /** Tries sent upstream so far (retries: README "Retries"). */
  attempts: number
  /** This call holds one of the cluster's retry slots. */
  retryHeld: boolean
  /** The caller's deadline (`deadline` may be a try's, inside it). */
  callDeadline: number
  /** Events reported before the onLog hooks ran (`report`), delivered after them. */
  parkedEvents: CallEvent[] | null

  constructor (protocol: Protocol, listener: string, headers: CallHeaders, remoteAddress: string, snapshot: Snapshot, logger: Logger) {
    super(protocol, listener, headers, remoteAddress)
    this.snapshot = snapshot
    this.chain = protocol === 'triple' ? snapshot.chains.triple : snapshot.chains.bolt
    this.logger = logger
    this.held = null
    this.attempts = 0
    this.retryHeld = false
    this.callDeadline = 0
    this.parkedEvents = null
  }

  override report (event: CallEvent): void {
    const hooks = this.chain.events
    if (hooks === null) return
    // Before the end, park it: onEvent promises the call's onLog hooks ran first.
    if (this.phase !== Phase.End) { (this.parkedEvents ??= []).push(event); return }
    runEventHooks(this, hooks, event)
  }

  /** The route's retry policy, when this failure (`on`) may be retried now: attempts left,
   *  time left, and room in the cluster's retry budget (taken here). */
  mayRetry (on: RetryOptions['on'][number], now: number): RetryOptions | null {
    const p = this.route?.retry ?? null
    const h = this.held
    if (p === null || h === null || this.attempts >= p.attempts || !p.on.includes(on)) return null
    if (this.callDeadline !== 0 && this.callDeadline - now <= 1) return null
    if (!this.retryHeld) {
      if (!h.admitRetry(p.budgetPercent, p.minRetries)) return null
      h.retries++
      this.retryHeld = true
    }
    return p
  }

  /** Another host of the call's cluster than `not` (null: none available). Filters of the
   *  afterHost phase do not run again for it. */
  retryHost (not: Host, now: number): Host | null {
    const c = this.cluster!
    for (let i = 0; i < 4; i++) {
      const h = c.choose(this, now)
      if (h === null) return null
      if (h !== not) return h
    }
    // The balancer keeps picking the same host (hash, or one left): the next available one.
    for (const h of c.hosts) if (h !== not && h.isAvailable(now)) return h
    return null
  }

  /** This try's deadline: the caller's, or `perTryTimeoutMs` from now when sooner. */
  tryDeadline (now: number): number {
    const per = this.route?.retry?.perTryTimeoutMs ?? 0
    if (this.attempts === 0) this.callDeadline = this.deadline
    if (per <= 0) return this.callDeadline
    const d = now + per
    return this.callDeadline === 0 || d < this.callDeadline ? d : this.callDeadline
  }

  protected override clusterNamed (name: string): Cluster | null {
    return this.snapshot.clusters.get(name) ?? null
  }

  /** Send the call to `this.host` (set). */
  protected abstract forward (): void
  /** End the call with a gateway reply (no upstream response will be sent downstream). */
  protected abstract sendLocalReply (reply: LocalReply): void
  /** Response hooks finished: write the upstream response downstream. */
  protected abstract continueResponse (): void

  /** Run the request phases; called once by the driver after decode. */
  start (): void {
    CALL_METRICS[this.protocol].active++
    this.phase = Phase.BeforeRoute
    advance(this)
  }

  /** The upstream's response headers are in `responseHeaders`: run onResponse hooks. */
  respond (): void {
    this.phase = Phase.Response
    const hooks = this.chain.response
    if (hooks === null) { this.continueResponse(); return }
    const r = runHooks(this, hooks, 'onResponse', 0, resumeResponse)
    if (r !== PENDING) afterResponseHooks(this, r)
  }

  /** Fail the call with a gateway error code (upstream timeout, reset...). */
  fail (reply: LocalReply): void {
    this.code = reply.code
    this.status = this.protocol === 'triple' ? reply.grpcStatus : reply.boltStatus
    this.message = reply.message
    this.phase = Phase.Reply
    this.sendLocalReply(reply)
  }

  /** The call is over: metrics, access log, onLog hooks. Idempotent. */
  finish (status: number): void {
    if (this.phase === Phase.End) return
    if (this.status === -1) this.status = status
    const h = this.held
    if (h !== null) {
      this.held = null
      h.active--
      if (this.retryHeld) {
        this.retryHeld = false
        h.retries--
        if (this.status === 0) h.retriesOk++; else h.retriesFailed++
      }
    }
    this.endedAt = now()
    this.phase = Phase.Log
    // The service label is a name some route gives exactly (config or discovery), never a
    // caller's string under a prefix route (12,000 random names made 12,000 series).
    CALL_METRICS[this.protocol].ended(this.route === null ? '-' : this.snapshot.routes.hasService(this.service) ? this.service : OTHER_LABEL, this.status, (this.endedAt - this.startedAt) / 1000)
    if (accessLevel !== null && this.logger.isLevelEnabled(accessLevel)) logAccess(this)
    const hooks = this.chain.log
    if (hooks !== null) runLogHooks(this, hooks)
    this.phase = Phase.End
    const parked = this.parkedEvents
    if (parked !== null) {
      this.parkedEvents = null
      for (const e of parked) runEventHooks(this, this.chain.events!, e)
    }
  }

  /**
   * A gateway bug on this call's path (a filter's own failure is FILTER_FAILED instead): log
   * once and end the call with ISTH_ERR_INTERNAL. Drivers override it to release what they
   * hold and to answer exactly once.
   */
  internalError (err: unknown): void {
    this.logger.error({ err, proto: this.protocol, svc: this.service }, 'call failed (internal error)')
    if (this.phase === Phase.End || this.phase === Phase.Reply) return
    try { this.fail(INTERNAL_REPLY) } catch { this.finish(this.status) }
  }

  /** Exposed to module-level functions (they cannot call protected members otherwise). */
  static doForward (c: ProxiedCall): void { c.forward() }
  static doReply (c: ProxiedCall, r: LocalReply): void { c.fail(r) }
  static doContinueResponse (c: ProxiedCall): void { c.continueResponse() }
}

const INTERNAL_REPLY = new LocalReply('ISTH_ERR_INTERNAL', 'internal error')

// Plain numbers per call; prom-client reads them at scrape time (gateway/metrics.ts).
const CALL_METRICS = { triple: callMetrics('triple'), bolt: callMetrics('bolt') } as const

let accessLevel: 'info' | 'debug' | 'trace' | null = 'debug'
/** Set once at start from `log.access`. */
export function setAccessLogLevel (level: 'info' | 'debug' | 'trace' | 'off'): void {
  accessLevel = level === 'off' ? null : level
}

function logAccess (c: ProxiedCall): void {
  c.logger[accessLevel as 'info']({
    proto: c.protocol, svc: c.service, method: c.method, route: c.route?.name, cluster: c.cluster?.name,
    host: c.host?.id, status: c.status, code: c.code ?? undefined, ms: Math.round((c.endedAt - c.startedAt) * 1000) / 1000,
    peer: c.remoteAddress,
  }, 'call')
}

/** Drive the request phases from `call.phase` on until forward, a local reply, or PENDING. */
function advance (call: ProxiedCall): void {
  for (;;) {
    switch (call.phase) {
      case Phase.BeforeRoute: {
        const hooks = call.chain.beforeRoute
        if (hooks !== null && !settle(call, runHooks(call, hooks, 'onRequest', 0, resumeRequest))) return
        call.phase = Phase.Route
        break
      }
      case Phase.Route: {
        const reply = route(call)
        if (reply !== null) { ProxiedCall.doReply(call, reply); return }
        call.phase = Phase.AfterRoute
        break
      }
      case Phase.AfterRoute: {
        const hooks = call.chain.afterRoute
        if (hooks !== null && !settle(call, runHooks(call, hooks, 'onRequest', 0, resumeRequest))) return
        call.phase = Phase.ChooseHost
        break
      }
      case Phase.ChooseHost: {
        const cluster = call.cluster
        if (cluster === null) { ProxiedCall.doReply(call, localReplyFor('ISTH_ERR_CLUSTER_NOT_FOUND', call.route?.cluster ?? '?')); return }
        const host = cluster.choose(call, now())
        if (host === null) { ProxiedCall.doReply(call, localReplyFor('ISTH_ERR_UPSTREAM_NO_HEALTHY_HOST', cluster.name)); return }
        const health = cluster.health
        if (!health.admit()) { ProxiedCall.doReply(call, localReplyFor('ISTH_ERR_UPSTREAM_OVERLOADED', `cluster ${cluster.name} has ${health.active} calls in flight (circuitBreakers.maxRequests)`)); return }
        health.active++
        call.held = health
        call.host = host
        call.phase = Phase.AfterHost
        break
      }
      case Phase.AfterHost: {
        const hooks = call.chain.afterHost
        if (hooks !== null && !settle(call, runHooks(call, hooks, 'onRequest', 0, resumeRequest))) return
        call.phase = Phase.Upstream
        sendUpstream(call)
        return
      }
      default:
        return
    }
  }
}

/** The request phases are done: run the onUpstream hooks (one attempt), then forward. */
function sendUpstream (call: ProxiedCall): void {
  const hooks = call.chain.upstream
  if (hooks !== null) runUpstreamHooks(call, hooks)
  ProxiedCall.doForward(call)
}

/** True when the phase's hooks all continued synchronously. */
function settle (call: ProxiedCall, r: RunResult): boolean {
  if (r === CONTINUE) return true
  if (r !== PENDING) ProxiedCall.doReply(call, r)
  return false
}

// The resumes run in a promise callback: a throw there must end the call, not reject a
// promise nobody handles.
function resumeRequest (c: Call, r: Continue | LocalReply): void {
  const call = c as ProxiedCall
  if (call.phase === Phase.End || call.phase === Phase.Reply) return // ended while waiting (cancel)
  try {
    if (r !== CONTINUE) { ProxiedCall.doReply(call, r); return }
    call.phase = call.phase === Phase.BeforeRoute ? Phase.Route : call.phase === Phase.AfterRoute ? Phase.ChooseHost : Phase.Upstream
    if (call.phase === Phase.Upstream) { sendUpstream(call); return }
    advance(call)
  } catch (err) {
    call.internalError(err)
  }
}

function resumeResponse (c: Call, r: Continue | LocalReply): void {
  const call = c as ProxiedCall
  if (call.phase === Phase.End) return
  try {
    afterResponseHooks(call, r)
  } catch (err) {
    call.internalError(err)
  }
}

function afterResponseHooks (call: ProxiedCall, r: Continue | LocalReply): void {
  if (r === CONTINUE) ProxiedCall.doContinueResponse(call)
  else ProxiedCall.doReply(call, r)
}

function route (call: ProxiedCall): LocalReply | null {
  const snap = call.snapshot
  const r = snap.routes.match(call)
  if (r === null) return localReplyFor('ISTH_ERR_ROUTE_NOT_FOUND', describe(call))
  call.route = r
  if (r.requireMethod && call.method === '') return localReplyFor('ISTH_ERR_ROUTE_METHOD_REQUIRED', r.name)
  call.cluster = snap.clusters.get(r.cluster) ?? null
  if (r.subset !== null) call.subset = call.subset === null ? r.subset : { ...r.subset, ...call.subset }
  // The route's timeout caps the caller's deadline.
  const routeDeadline = call.startedAt + r.timeoutMs
  if (call.deadline === 0 || routeDeadline < call.deadline) call.deadline = routeDeadline
  return null
}

function describe (call: Call): string {
  let s = call.protocol + ' ' + (call.service === '' ? '(no service)' : call.service)
  if (call.method !== '') s += '/' + call.method
  if (call.version !== '') s += ' version ' + call.version
  if (call.group !== '') s += ' group ' + call.group
  return s
}
