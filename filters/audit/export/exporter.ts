/**
 * The exporter behind `isthmus audit export`: one BullMQ Worker (concurrency 1) takes the
 * audit queue's jobs in order and delivers their new lines to every sink. Delivery failures
 * are retried with exponential back-off (`retry.baseMs` .. `retry.maxMs`) without giving the
 * job up, so a later job never overtakes an earlier one; on shutdown a job in progress goes
 * back to the head of the queue (moveToWait). A job is acknowledged only after every sink
 * holds its lines: at least once, and the high-water marks (positions.ts) make re-delivery a
 * no-op for the file sink and id-de-duplicable for the others. One exporter per queue: a
 * lock in Redis (renewed) keeps a second one waiting.
 */
import { randomUUID } from 'node:crypto'
import { DelayedError, Queue, Worker, WaitingError, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { bullPrefix } from '../producer.js'
import { advance, behind, emptyMark, isNew, jobLines, type ExportLine, type Mark, type Marks } from './positions.js'
import type { Sink } from './sinks.js'

export interface ExporterOptions {
  readonly redisUrl: string
  readonly password: string | undefined
  readonly keyPrefix: string
  readonly queueName: string
  readonly retry: { readonly baseMs: number, readonly maxMs: number }
  readonly sinks: readonly Sink[]
  readonly logger: Logger
}

const LOCK_MS = 15_000
/** BullMQ's stalled-job check period (its default is 30 s; a dead exporter's job comes back sooner). */
const STALLED_MS = 5_000

export class Exporter {
  readonly o: ExporterOptions
  readonly #cmd: Redis
  #worker: Worker | null = null
  #workerConn: Redis | null = null
  readonly #marks = new Map<Sink, Marks>()
  #closing = false
  #lockTimer: NodeJS.Timeout | null = null
  readonly #lockKey: string
  readonly #lockId = randomUUID()
  /** Jobs processed, and when the last one finished (for --until-idle). */
  processed = 0
  lastJobAt = Date.now()
  /** The last job that stepped aside (one warning per job). */
  #warnedFor: string | null = null
  /** Reads job states (where the job before a job is). */
  #queue: Queue | null = null

  constructor (o: ExporterOptions) {
    this.o = o
    this.#lockKey = `${o.keyPrefix}audit:exporter:${o.queueName}`
    this.#cmd = new Redis(o.redisUrl, { maxRetriesPerRequest: null, ...(o.password === undefined ? {} : { password: o.password }) })
    this.#cmd.on('error', (err: Error) => o.logger.debug({ err: err.message }, 'redis error'))
  }

  async start (): Promise<void> {
    await this.#takeLock()
    for (const s of this.o.sinks) {
      if (s.ownMarks !== null) { this.#marks.set(s, s.ownMarks); continue }
      const saved = await this.#cmd.hgetall(this.#marksKey(s))
      const m: Marks = {}
      for (const [trail, v] of Object.entries(saved)) m[trail] = JSON.parse(v) as Mark
      this.#marks.set(s, m)
    }
    this.#queue = new Queue(this.o.queueName, { connection: this.#cmd, prefix: bullPrefix(this.o.keyPrefix) })
    this.#queue.on('error', () => {})
    const connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null, ...(this.o.password === undefined ? {} : { password: this.o.password }) })
    connection.on('error', () => {})
    this.#workerConn = connection
    this.#worker = new Worker(this.o.queueName, (job, token) => this.#process(job, token), {
      connection,
      prefix: bullPrefix(this.o.keyPrefix),
      concurrency: 1,
      // A stalled job (an exporter killed mid-job) goes back to the head of the queue, however often.
      maxStalledCount: Number.MAX_SAFE_INTEGER,
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_MS,
    })
    this.#worker.on('error', (err: Error) => this.o.logger.warn({ err: err.message }, 'audit export worker error'))
    this.o.logger.info({ queue: this.o.queueName, sinks: this.o.sinks.map(s => s.name) }, 'audit exporter running')
  }

  /** Waiting + active jobs. */
  async depth (): Promise<number> {
    const q = `${bullPrefix(this.o.keyPrefix)}:${this.o.queueName}`
    const [w, a, d] = await Promise.all([this.#cmd.llen(`${q}:wait`), this.#cmd.llen(`${q}:active`), this.#cmd.zcard(`${q}:delayed`)])
    return w + a + d
  }

  async close (): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    if (this.#lockTimer !== null) clearInterval(this.#lockTimer)
    await this.#worker?.close()
    await this.#cmd.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, this.#lockKey, this.#lockId).catch(() => {})
    await this.#queue?.close().catch(() => {})
    for (const s of this.o.sinks) await s.close().catch(() => {})
    this.#workerConn?.disconnect()
    this.#cmd.disconnect()
  }

  /**
   * The sinks do not hold the chunk enqueued just before this job. When that chunk's job is
   * still in the queue (active: left by an exporter that died, until BullMQ's stalled check puts
   * it back; or waiting, delayed), delivering this one first would make its lines look delivered
   * and they would be skipped: this job steps aside (delayed briefly, so the other comes first).
   * When that job is gone (Redis lost it, or the sink is new), this one is delivered; a sink that
   * already held part of the trail then has a gap, logged (the local trail holds the lines, and
   * `isthmus audit verify` on the export shows the break).
   */
  async #stepAside (job: Job, token: string | undefined, afterJob: string, fresh: boolean): Promise<void> {
    const state = await this.#queue!.getJobState(afterJob)
    if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      if (this.#warnedFor !== job.id) {
        this.#warnedFor = String(job.id)
        this.o.logger.warn({ job: job.id, before: afterJob, state }, 'audit export: a job arrived before the one enqueued ahead of it; waiting for that one')
      }
      await job.moveToDelayed(Date.now() + STEP_ASIDE_MS, token)
      throw new DelayedError()
    }
    if (!fresh) {
      this.o.logger.error({ job: job.id, before: afterJob, state },
        'audit export: the job enqueued ahead of this one is not in the queue; delivering with a gap (the local trail holds the missing lines)')
    }
  }

  #marksKey (s: Sink): string { return `${this.o.keyPrefix}audit:marks:${this.o.queueName}:${s.name}` }

  async #takeLock (): Promise<void> {
    let said = false
    for (;;) {
      const ok = await this.#cmd.set(this.#lockKey, this.#lockId, 'PX', LOCK_MS, 'NX')
      if (ok === 'OK') break
      if (!said) { this.o.logger.warn({ lock: this.#lockKey }, 'another audit exporter holds this queue; waiting (one exporter per queue keeps the order)'); said = true }
      await sleep(LOCK_MS / 3)
      if (this.#closing) throw new Error('closed while waiting for the exporter lock')
    }
    this.#lockTimer = setInterval(() => {
      this.#cmd.set(this.#lockKey, this.#lockId, 'PX', LOCK_MS, 'XX').catch(() => {})
    }, LOCK_MS / 3)
    this.#lockTimer.unref()
  }

  async #process (job: Job, token: string | undefined): Promise<void> {
    const data = job.data as { trail?: string, seg?: number, from?: number, lines?: string, line?: string, after?: { seg: number, off: number } | null, afterJob?: string | null }
    const trail = String(data.trail ?? '')
    if (job.name === 'records' && typeof data.afterJob === 'string') {
      const marks = this.o.sinks.map(s => this.#marks.get(s)![trail] ?? emptyMark())
      if (marks.some(m => behind(m, data.after))) await this.#stepAside(job, token, data.afterJob, marks.every(m => m.seg === 0 && m.off === 0))
    }
    const lines = jobLines(job.name, data)
    for (const sink of this.o.sinks) {
      const marks = this.#marks.get(sink)!
      const mark = marks[trail] ?? emptyMark()
      const next: Mark = { ...mark }
      const records: ExportLine[] = []
      const checkpoints: ExportLine[] = []
      for (const l of lines) {
        if (isNew(next, l)) { if (l.kind === 'ckpt') checkpoints.push(l); else records.push(l) }
        advance(next, l)
      }
      if (next.seg === mark.seg && next.off === mark.off && next.ckpt === mark.ckpt) continue
      const updated: Marks = { ...marks, [trail]: next }
      if (records.length === 0 && checkpoints.length === 0 && sink.ownMarks === null) {
        // Nothing new, but the mark moves past lines already delivered (a checkpoint sent on its own).
        this.#marks.set(sink, updated)
        await this.#cmd.hset(this.#marksKey(sink), trail, JSON.stringify(next))
        continue
      }
      let delay = this.o.retry.baseMs
      for (let attempt = 1; ; attempt++) {
        try {
          await sink.deliver(records, checkpoints, updated)
          break
        } catch (err) {
          this.o.logger.warn({ sink: sink.name, job: job.id, attempt, err: (err as Error).message, retryMs: delay }, 'audit export delivery failed; retrying')
          await sleep(delay)
          delay = Math.min(this.o.retry.maxMs, delay * 2)
          if (this.#closing) {
            // Back to the head of the queue: the next exporter starts with this job.
            await job.moveToWait(token)
            throw new WaitingError()
          }
        }
      }
      this.#marks.set(sink, updated)
      if (sink.ownMarks === null) await this.#cmd.hset(this.#marksKey(sink), trail, JSON.stringify(next))
    }
    this.processed++
    this.lastJobAt = Date.now()
  }
}

/** How long a job that arrived early steps aside before it is tried again. */
const STEP_ASIDE_MS = 300

function sleep (ms: number): Promise<void> { return new Promise(resolve => setTimeout(resolve, ms)) }
