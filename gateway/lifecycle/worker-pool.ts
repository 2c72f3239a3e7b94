/**
 * The primary's workers (node:cluster, round-robin accept). Every accepted change is one
 * numbered generation applied in two phases: every ready worker compiles it and keeps it
 * aside (prepare); only when all prepared does the primary commit (each worker swaps it in),
 * else it aborts and every worker stays on the old generation. Starts, restarts and
 * generations run one at a time, so a restarted worker starts on the current generation and
 * never misses one. Each wait is bounded (`workerLimits`) and counted when it trips.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { Counter, Gauge, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import type { GatewayOptions, WorkerLimits } from '../config/options.js'
import { ERRORS, IsthmusError, type ErrorCode } from '../errors.js'
import { registry } from '../metrics.js'
import { isOurs, TAG, WORKER_INDEX_ENV, type FromWorker, type ToWorker, type WireAddress, type WireError } from './worker-protocol.js'

export const DEFAULT_WORKER_LIMITS: WorkerLimits = Object.freeze({ startTimeoutMs: 30000, applyTimeoutMs: 10000, metricsTimeoutMs: 2000 })

export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited'
export interface WorkerStatus { worker: number, pid: number | null, generation: number, state: WorkerState, restarts: number }

interface Waiter { pred: (m: FromWorker) => boolean, resolve: (m: FromWorker) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }
interface Slot {
  readonly index: number
  worker: Worker | null
  pid: number | null
  generation: number
  state: WorkerState
  restarts: number
  /** Consecutive exits soon after a start (backoff). */
  streak: number
  readyAt: number
  waiters: Waiter[]
}

const workerGeneration = new Gauge({
  name: 'isthmus_worker_generation',
  help: 'Config generation each worker process serves (0 while it is not running)',
  labelNames: ['worker'] as const,
  registers: [registry],
  aggregator: 'first',
})
const workerRestarts = new Counter({ name: 'isthmus_worker_restarts_total', help: 'Worker processes restarted after they exited unasked', labelNames: ['worker'] as const, registers: [registry], aggregator: 'first' })
const workerTimeouts = new Counter({ name: 'isthmus_worker_timeouts_total', help: 'Waits of the primary for a worker that tripped their bound (start, prepare, commit, metrics, drain)', labelNames: ['phase'] as const, registers: [registry], aggregator: 'first' })
const applyRefused = new Counter({ name: 'isthmus_worker_apply_refused_total', help: 'Generations not applied because a worker could not prepare them (every worker stayed on the old one)', registers: [registry], aggregator: 'first' })

/** Exits this soon after a start count as a crash loop (restart backs off). */
const CRASH_LOOP_MS = 5000
const MAX_BACKOFF_MS = 5000
/** A worker told to close that has not exited by then is killed. */
const EXIT_GRACE_MS = 5000

export interface WorkerPoolOptions {
  count: number
  limits: WorkerLimits
  logger: Logger
  baseDir: string
  nodeId: string
  drainTimeoutMs: number
}

export interface WorkerAddresses { triple?: WireAddress, bolt?: WireAddress }

export class WorkerPool {
  readonly #o: WorkerPoolOptions
  readonly #log: Logger
  readonly #slots: Slot[] = []
  #current: { generation: number, options: GatewayOptions } | null = null
  #tail: Promise<unknown> = Promise.resolve()
  #stopping = false
  #closing: Promise<void> | null = null
  #metricsId = 0

  constructor (o: WorkerPoolOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'workers' })
    for (let i = 1; i <= o.count; i++) this.#slots.push({ index: i, worker: null, pid: null, generation: 0, state: 'exited', restarts: 0, streak: 0, readyAt: 0, waiters: [] })
    workerGeneration.reset()
    for (const s of this.#slots) workerGeneration.set({ worker: String(s.index) }, 0)
  }

  /** The generation every ready worker serves. */
  get generation (): number { return this.#current?.generation ?? 0 }

  /** Fork every worker on `generation` and wait until each listens; one failure fails the start. */
  start (generation: number, options: GatewayOptions): Promise<WorkerAddresses> {
    if (this.#current === null || this.#current.generation < generation) this.#current = { generation, options }
    return this.#serial(async () => {
      const ready = await Promise.all(this.#slots.map(s => this.#startSlot(s)))
      return { triple: ready[0].triple, bolt: ready[0].bolt }
    })
  }

  /** Two-phase apply of one generation to every ready worker; throws ISTH_ERR_WORKER_APPLY when one cannot. */
  apply (generation: number, options: GatewayOptions): Promise<void> {
    return this.#serial(async () => {
      if (this.#current === null) { this.#current = { generation, options }; return }
      const slots = this.#slots.filter(s => s.state === 'ready')
      const limit = this.#o.limits.applyTimeoutMs
      const prepared = await Promise.allSettled(slots.map(s => this.#ask(s, { tag: TAG, t: 'prepare', generation, options },
        m => (m.t === 'prepared' || m.t === 'prepare-failed') && m.generation === generation, limit, 'prepare')))
      let failure: string | null = null
      let code: string | undefined
      for (let i = 0; i < slots.length && failure === null; i++) {
        const r = prepared[i]
        const w = slots[i]
        if (r.status === 'rejected') failure = `worker ${w.index} (pid ${w.pid ?? '?'}): ${(r.reason as Error).message}`
        else if (r.value.t === 'prepare-failed') { failure = `worker ${w.index} (pid ${w.pid ?? '?'}): ${r.value.error.message}`; code = r.value.error.code }
      }
      if (failure !== null) {
        for (const s of slots) this.#send(s, { tag: TAG, t: 'abort', generation })
        applyRefused.inc()
        this.#log.error({ generation, kept: this.#current.generation, failure, code }, 'generation refused by a worker; every worker keeps the old one')
        throw new IsthmusError('ISTH_ERR_WORKER_APPLY', `generation ${generation} was not applied (every worker stays on generation ${this.#current.generation}): ${failure}`)
      }
      // Decided: a worker that now fails to commit is replaced, and its successor starts on this.
      this.#current = { generation, options }
      const committed = await Promise.allSettled(slots.map(s => this.#ask(s, { tag: TAG, t: 'commit', generation },
        m => (m.t === 'committed' || m.t === 'commit-failed') && m.generation === generation, limit, 'commit')))
      committed.forEach((r, i) => {
        const s = slots[i]
        if (r.status === 'fulfilled' && r.value.t === 'committed') { s.generation = generation; workerGeneration.set({ worker: String(s.index) }, generation); return }
        this.#log.error({ worker: s.index, pid: s.pid, generation, err: r.status === 'rejected' ? (r.reason as Error).message : undefined }, 'worker did not commit the generation; replacing it')
        s.worker?.process.kill('SIGKILL')
      })
    })
  }

  status (): WorkerStatus[] {
    return this.#slots.map(s => ({ worker: s.index, pid: s.pid, generation: s.generation, state: s.state, restarts: s.restarts }))
  }

  get anyReady (): boolean { return this.#slots.some(s => s.state === 'ready') }

  /** Every ready worker's metrics (prom-client JSON); a worker that does not answer in time is left out. */
  async metrics (): Promise<MetricObjectWithValues<MetricValue<string>>[][]> {
    const id = ++this.#metricsId
    const got = await Promise.allSettled(this.#slots.filter(s => s.state === 'ready').map(s =>
      this.#ask(s, { tag: TAG, t: 'metrics', id }, m => m.t === 'metrics' && m.id === id, this.#o.limits.metricsTimeoutMs, 'metrics')))
    const out: MetricObjectWithValues<MetricValue<string>>[][] = []
    for (const r of got) if (r.status === 'fulfilled' && r.value.t === 'metrics') out.push(r.value.metrics as MetricObjectWithValues<MetricValue<string>>[])
    return out
  }

  /** Every worker stops accepting and finishes its calls; no restarts from now on. */
  async drain (): Promise<void> {
    this.#stopping = true
    const slots = this.#slots.filter(s => s.state === 'ready' || s.state === 'starting')
    await Promise.allSettled(slots.map(async s => {
      s.state = 'draining'
      await this.#ask(s, { tag: TAG, t: 'drain' }, m => m.t === 'drained', this.#o.drainTimeoutMs + EXIT_GRACE_MS, 'drain')
    }))
  }

  /** Drain, then let every worker close and exit (killed if it does not). Idempotent. */
  close (): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closing = (async () => {
      await this.drain()
      await Promise.all(this.#slots.map(s => this.#stop(s)))
    })()
    return this.#closing
  }

  async #stop (s: Slot): Promise<void> {
    const w = s.worker
    if (w === null) return
    const exited = new Promise<void>(resolve => { w.once('exit', () => resolve()) })
    this.#send(s, { tag: TAG, t: 'close' })
    const timer = setTimeout(() => { w.process.kill('SIGKILL') }, EXIT_GRACE_MS)
    timer.unref()
    await exited
    clearTimeout(timer)
  }

  async #startSlot (s: Slot): Promise<FromWorker & { t: 'ready' }> {
    const cur = this.#current as { generation: number, options: GatewayOptions }
    const w = cluster.fork({ [WORKER_INDEX_ENV]: String(s.index) })
    s.worker = w
    s.pid = w.process.pid ?? null
    s.state = 'starting'
    s.generation = 0
    w.on('message', (m: unknown) => { if (isOurs<FromWorker>(m)) this.#onMessage(s, w, m) })
    w.on('exit', (code: number | null, signal: string | null) => { this.#onExit(s, w, code, signal) })
    w.on('error', (err: Error) => { this.#log.warn({ worker: s.index, err: err.message }, 'worker channel error') })
    const limit = this.#o.limits.startTimeoutMs
    try {
      await this.#wait(s, m => m.t === 'hello', limit, 'start')
      const r = await this.#ask(s, { tag: TAG, t: 'init', generation: cur.generation, options: cur.options, baseDir: this.#o.baseDir, nodeId: this.#o.nodeId },
        m => m.t === 'ready' || m.t === 'start-failed', limit, 'start')
      if (r.t === 'start-failed') throw fromWire(r.error)
      if (r.t !== 'ready') throw new Error('unexpected reply')
      s.state = this.#stopping ? 'draining' : 'ready'
      s.generation = r.generation
      s.readyAt = Date.now()
      workerGeneration.set({ worker: String(s.index) }, r.generation)
      this.#log.info({ worker: s.index, pid: s.pid, generation: r.generation }, 'worker ready')
      return r
    } catch (err) {
      if (s.worker === w) w.process.kill('SIGKILL')
      throw err
    }
  }

  #onMessage (s: Slot, w: Worker, m: FromWorker): void {
    if (s.worker !== w) return
    for (const x of [...s.waiters]) {
      if (!x.pred(m)) continue
      s.waiters.splice(s.waiters.indexOf(x), 1)
      clearTimeout(x.timer)
      x.resolve(m)
    }
  }

  #onExit (s: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (s.worker !== w) return
    const wasReady = s.state === 'ready'
    s.worker = null
    s.state = 'exited'
    s.generation = 0
    workerGeneration.set({ worker: String(s.index) }, 0)
    for (const x of s.waiters.splice(0)) { clearTimeout(x.timer); x.reject(new Error(`worker ${s.index} exited (${signal ?? `code ${code ?? '?'}`})`)) }
    if (this.#stopping) return
    s.restarts++
    workerRestarts.inc({ worker: String(s.index) })
    s.streak = wasReady && Date.now() - s.readyAt > CRASH_LOOP_MS ? 0 : s.streak + 1
    const delay = s.streak === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (s.streak - 1))
    this.#log.error({ worker: s.index, pid: s.pid, code, signal, restartInMs: delay }, 'worker exited; restarting it on the current generation')
    setTimeout(() => {
      this.#serial(async () => {
        if (this.#stopping || s.worker !== null) return
        await this.#startSlot(s)
      }).catch((err: unknown) => { this.#log.error({ worker: s.index, err: (err as Error).message }, 'worker restart failed') })
    }, delay).unref()
  }

  #send (s: Slot, m: ToWorker): boolean {
    const w = s.worker
    if (w === null || !w.isConnected()) return false
    w.send(m, undefined, onSendError)
    return true
  }

  #ask (s: Slot, m: ToWorker, pred: (m: FromWorker) => boolean, limitMs: number, phase: string): Promise<FromWorker> {
    const p = this.#wait(s, pred, limitMs, phase)
    if (!this.#send(s, m)) { p.catch(() => {}); return Promise.reject(new Error(`worker ${s.index} is not running`)) }
    return p
  }

  #wait (s: Slot, pred: (m: FromWorker) => boolean, limitMs: number, phase: string): Promise<FromWorker> {
    return new Promise<FromWorker>((resolve, reject) => {
      const x: Waiter = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = s.waiters.indexOf(x)
          if (i >= 0) s.waiters.splice(i, 1)
          workerTimeouts.inc({ phase })
          reject(new Error(`worker ${s.index} did not answer ${phase} within ${limitMs} ms (workerLimits)`))
        }, limitMs),
      }
      x.timer.unref()
      s.waiters.push(x)
    })
  }

  #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn)
    this.#tail = run.catch(() => {})
    return run
  }
}

function onSendError (err: Error | null): void { void err /* the exit handler deals with a dead worker */ }

/** A worker's error as the primary rethrows it: the same code, message and path. */
function fromWire (w: WireError): Error {
  if (!(w.code in ERRORS)) return new Error(w.message)
  const e = new IsthmusError(w.code as ErrorCode, w.message, w.path)
  e.message = w.message
  return e
}
