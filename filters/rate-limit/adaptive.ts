/**
 * Adaptive, priority-aware load shedding. Every `windowMs` the governor samples the event
 * loop (p99 delay from monitorEventLoopDelay, utilization from eventLoopUtilization) and each
 * service's window (completions, successes, mean latency). Over the thresholds, it escalates
 * one level per window, and steps back one level after `recoverWindows` calm windows:
 *   1. stress-test calls are shed (call.stress, set by the `stress` filter before this one);
 *   2. calls matching a `low` priority are shed too;
 *   3. services whose concurrency grew get a concurrency cap: Sentinel's system-rule estimate
 *      (max success QPS x min RT, learned over calm windows, with a floor of minConcurrency),
 *      halved each window the loop stays overloaded and grown by an eighth (at least one) each calm one
 *      (AIMD, as Envoy's adaptive concurrency moves its limit), lifted once well above need.
 * With `latencyFactor`, a service whose window latency exceeds that multiple of its learned
 * minimum gets the same cap on its own (its upstream is slow), at any level. `high` priority
 * calls are never shed. A light service (concurrency at or under its estimate) keeps working.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks'
import { stringMatchSchema, type Call, type CompileContext, type FilterCounter, type JsonSchema, type LocalReply } from '../../gateway/index.js'
import { RuleMatch, type MatchOptions } from './match.js'

export interface AdaptiveOptions {
  windowMs: number
  /** Overloaded when the event loop's p99 delay in a window exceeds this (0: not watched). */
  maxEventLoopDelayMs: number
  /** Overloaded when event-loop utilization (0-1) in a window exceeds this (0: not watched). */
  maxUtilization: number
  /** Per-service trigger: window latency over this multiple of the learned minimum (0: off). */
  latencyFactor: number
  minConcurrency: number
  recoverWindows: number
  /** Calm windows remembered for the max-QPS / min-RT estimate. */
  historyWindows: number
  priorities: Array<MatchOptions & { priority: 'low' | 'high' }>
}

const matchProps = { service: stringMatchSchema, method: stringMatchSchema, entity: stringMatchSchema, app: stringMatchSchema, route: stringMatchSchema }

export const adaptiveSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    windowMs: { type: 'integer', minimum: 50, maximum: 10000, default: 250 },
    maxEventLoopDelayMs: { type: 'number', minimum: 0, maximum: 60000, default: 50 },
    maxUtilization: { type: 'number', minimum: 0, maximum: 1, default: 0 },
    latencyFactor: { type: 'number', minimum: 0, maximum: 1000, default: 0 },
    minConcurrency: { type: 'integer', minimum: 1, maximum: 1e6, default: 4 },
    recoverWindows: { type: 'integer', minimum: 1, maximum: 1000, default: 8 },
    historyWindows: { type: 'integer', minimum: 1, maximum: 10000, default: 40 },
    priorities: {
      type: 'array',
      default: [],
      items: { type: 'object', additionalProperties: false, required: ['priority'], properties: { ...matchProps, priority: { enum: ['low', 'high'] } } },
    },
  },
}

export const ADMIT = 0
export const SHED_STRESS = 1
export const SHED_LOW = 2
export const SHED_CONCURRENCY = 3
export type Shed = typeof SHED_STRESS | typeof SHED_LOW | typeof SHED_CONCURRENCY

/** monitorEventLoopDelay's sampling interval: its values include it. */
const RESOLUTION_MS = 10
const MIN_SAMPLES = 3
const MAX_SERVICES = 1024
const SHED_NAMES = ['', 'stress', 'low-priority', 'concurrency'] as const

/** One service as the governor sees it. Plain fields: the call path bumps them. */
export class ServiceStats {
  readonly name: string
  inflight = 0
  /** Highest in-flight count this window. */
  peak = 0
  done = 0
  success = 0
  rtSum = 0
  /** Concurrency cap; Infinity: none. */
  cap = Infinity
  maxQps = 0
  minRt = 0
  readonly #qps: Float64Array
  readonly #rt: Float64Array
  #n = 0
  #at = 0

  constructor (name: string, history: number) {
    this.name = name
    this.#qps = new Float64Array(history)
    this.#rt = new Float64Array(history)
  }

  /** Remember a calm window's QPS and mean RT (sliding over the last `history` ones). */
  learn (qps: number, rt: number): void {
    this.#qps[this.#at] = qps
    this.#rt[this.#at] = rt
    this.#at = (this.#at + 1) % this.#qps.length
    if (this.#n < this.#qps.length) this.#n++
    let maxQps = 0
    let minRt = Infinity
    for (let i = 0; i < this.#n; i++) {
      if (this.#qps[i] > maxQps) maxQps = this.#qps[i]
      if (this.#rt[i] > 0 && this.#rt[i] < minRt) minRt = this.#rt[i]
    }
    this.maxQps = maxQps
    this.minRt = minRt === Infinity ? 0 : minRt
  }

  /** Sentinel's estimate of the concurrency the service handles well: max QPS x min RT. */
  get capacity (): number { return this.maxQps * this.minRt / 1000 }
}

export class AdaptiveGovernor {
  readonly o: AdaptiveOptions
  /** 0 normal, 1 shed stress, 2 + low priority, 3 + cap grown services. */
  level = 0
  /** Last window's measurements (for logs and tests). */
  lastDelayMs = 0
  lastUtilization = 0
  overloaded = false
  readonly replies: readonly LocalReply[]
  readonly #services = new Map<string, ServiceStats>()
  readonly #other: ServiceStats
  readonly #low: readonly RuleMatch[]
  readonly #high: readonly RuleMatch[]
  #hist: IntervalHistogram | null = null
  #elu: EventLoopUtilization | null = null
  #calm = 0
  #last = 0
  #timer: NodeJS.Timeout | null = null
  #closed = false
  readonly #shed: FilterCounter
  readonly #windows: FilterCounter
  readonly #shedLabels: ReadonlyArray<Readonly<Record<string, string>>>
  readonly #windowLabels: ReadonlyArray<Readonly<Record<string, string>>>

  constructor (o: AdaptiveOptions, ctx: CompileContext) {
    this.o = o
    if (o.maxEventLoopDelayMs === 0 && o.maxUtilization === 0 && o.latencyFactor === 0) {
      throw ctx.invalid('set maxEventLoopDelayMs, maxUtilization or latencyFactor (all are 0: nothing to watch)', '/adaptive')
    }
    this.#other = new ServiceStats('(other)', o.historyWindows)
    this.#low = o.priorities.filter(p => p.priority === 'low').map(p => new RuleMatch(p))
    this.#high = o.priorities.filter(p => p.priority === 'high').map(p => new RuleMatch(p))
    this.replies = [
      ctx.localReply('ISTH_ERR_RATE_LIMITED', 'adaptive'),
      ctx.localReply('ISTH_ERR_RATE_LIMITED', 'adaptive: the gateway is overloaded and sheds stress-test traffic first'),
      ctx.localReply('ISTH_ERR_RATE_LIMITED', 'adaptive: the gateway is overloaded and sheds low-priority calls'),
      ctx.localReply('ISTH_ERR_RATE_LIMITED', 'adaptive: the gateway is overloaded and this service is over its concurrency'),
    ]
    this.#shed = ctx.counter('adaptive_shed', 'calls shed by adaptive protection, by reason (stress, low-priority, concurrency)', ['reason'])
    this.#windows = ctx.counter('adaptive_windows', 'adaptive sampling windows by state (overloaded or calm) and the level after them', ['state', 'level'])
    this.#shedLabels = SHED_NAMES.map(reason => Object.freeze({ reason }))
    const wl: Array<Readonly<Record<string, string>>> = []
    for (const state of ['calm', 'overloaded']) for (let l = 0; l <= 3; l++) wl.push(Object.freeze({ state, level: String(l) }))
    this.#windowLabels = wl
  }

  /** Sampling starts with the first call: a compiled config that never serves one holds no timer. */
  #start (): void {
    this.#hist = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
    this.#hist.enable()
    this.#elu = performance.eventLoopUtilization()
    this.#last = performance.now()
    this.#timer = setInterval(sampleGovernor, this.o.windowMs, this)
    this.#timer.unref()
  }

  /** The stats of `service` (bounded: past MAX_SERVICES, new ones share one entry). */
  statsFor (service: string): ServiceStats {
    if (this.#timer === null && !this.#closed) this.#start()
    const s = this.#services.get(service)
    if (s !== undefined) return s
    if (this.#services.size >= MAX_SERVICES) return this.#other
    const n = new ServiceStats(service, this.o.historyWindows)
    this.#services.set(service, n)
    return n
  }

  /** ADMIT, or why the call is shed. */
  admit (call: Call, s: ServiceStats): number {
    const level = this.level
    if (level === 0 && s.cap === Infinity) return ADMIT
    if (level >= 1 && call.stress) return this.#count(SHED_STRESS)
    if (level >= 2 && this.#low.length > 0 && anyMatch(this.#low, call) && !anyMatch(this.#high, call)) return this.#count(SHED_LOW)
    if (s.inflight >= s.cap && !anyMatch(this.#high, call)) return this.#count(SHED_CONCURRENCY)
    return ADMIT
  }

  #count (why: Shed): Shed {
    this.#shed.inc(this.#shedLabels[why])
    return why
  }

  /** An admitted call started. */
  static started (s: ServiceStats): void {
    if (++s.inflight > s.peak) s.peak = s.inflight
  }

  /** An admitted call ended after `ms` with `status` (0: OK on both protocols). */
  static ended (s: ServiceStats, ms: number, status: number): void {
    if (s.inflight > 0) s.inflight--
    s.done++
    s.rtSum += ms
    if (status === 0) s.success++
  }

  /** One sampling window (the timer calls it; tests pass `measured` instead of the loop's figures). */
  sample (now = performance.now(), measured?: { delayMs: number, utilization: number }): void {
    if (this.#hist === null || this.#elu === null) return
    const elapsed = now - this.#last
    this.#last = now
    if (elapsed <= 0) return
    const o = this.o
    const delay = Math.max(0, this.#hist.percentile(99) / 1e6 - RESOLUTION_MS)
    this.#hist.reset()
    const elu = performance.eventLoopUtilization(this.#elu).utilization
    this.#elu = performance.eventLoopUtilization()
    this.lastDelayMs = measured?.delayMs ?? delay
    this.lastUtilization = measured?.utilization ?? elu
    const over = (o.maxEventLoopDelayMs > 0 && this.lastDelayMs > o.maxEventLoopDelayMs) || (o.maxUtilization > 0 && this.lastUtilization > o.maxUtilization)
    this.overloaded = over
    if (over) {
      this.#calm = 0
      if (this.level < 3) this.level++
    } else if (this.level > 0 && ++this.#calm >= o.recoverWindows) {
      this.level--
      this.#calm = 0
    }
    for (const s of this.#services.values()) this.#roll(s, elapsed, over)
    this.#roll(this.#other, elapsed, over)
    this.#windows.inc(this.#windowLabels[(over ? 4 : 0) + this.level])
  }

  #roll (s: ServiceStats, elapsed: number, over: boolean): void {
    const o = this.o
    const rt = s.done > 0 ? s.rtSum / s.done : 0
    if (!over && this.level === 0 && s.cap === Infinity && s.done >= MIN_SAMPLES) s.learn(s.success * 1000 / elapsed, rt)
    const estimate = Math.max(o.minConcurrency, Math.ceil(s.capacity))
    const slow = o.latencyFactor > 0 && s.done >= MIN_SAMPLES && s.minRt > 0 && rt > o.latencyFactor * s.minRt && rt - s.minRt > 1
    const grown = s.peak > estimate
    if (slow || (over && this.level >= 3 && (grown || s.cap !== Infinity))) {
      // Multiplicative decrease: start at the estimate, halve while the pressure lasts.
      s.cap = s.cap === Infinity ? estimate : Math.max(1, Math.floor(s.cap / 2))
    } else if (s.cap !== Infinity) {
      // Additive increase while calm (an eighth, at least one): long calm stretches between
      // the overloaded windows that halve it; lifted once well above what the service needs.
      s.cap += Math.max(1, Math.floor(s.cap / 8))
      if (this.level < 3 && s.cap >= 2 * Math.max(estimate, s.peak)) s.cap = Infinity
    }
    s.done = 0
    s.success = 0
    s.rtSum = 0
    s.peak = s.inflight
  }

  close (): void {
    this.#closed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#hist?.disable()
  }
}

function anyMatch (rules: readonly RuleMatch[], call: Call): boolean {
  for (let i = 0; i < rules.length; i++) if (rules[i].matches(call)) return true
  return false
}

function sampleGovernor (g: AdaptiveGovernor): void { g.sample() }
