/**
 * The trail thread (a worker_threads Worker, one per audit directory): hashing, writing,
 * rotation, checkpoints and their signatures, disk bounds and the BullMQ producer all run
 * here, so the gateway's thread only builds one string per call. Messages in (trail.ts):
 * `batch`, `gap`, `config`, `close`. Out: `log` messages; flags and stats in shared memory.
 */
import { readFileSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { loadSigner, type Signer } from './checkpoint.js'
import type { Producer } from './producer.js'
import { RecordRing } from './record-ring.js'
import { Flag, Stat, viewSharedState } from './shared-state.js'
import { applyBounds, type SpoolOptions } from './spool.js'
import { SegmentWriter } from './segment-writer.js'
import type { TrailSettings, TrailWorkerData, ToWorker } from './trail-protocol.js'

const data = workerData as TrailWorkerData
const shared = viewSharedState(data.shared)
const ring = new RecordRing(data.ring, shared.ringPositions)
const port = parentPort!

function log (level: 'info' | 'warn' | 'error', msg: string, err?: unknown): void {
  port.postMessage({ t: 'log', level, msg, err: err === undefined ? undefined : err instanceof Error ? err.message : String(err) })
}

let settings: TrailSettings = data.settings
let signer: Signer | null = null
let producer: Producer | null = null
let writer: SegmentWriter
let closing = false

function loadKey (s: TrailSettings): Signer | null {
  if (s.keyPath === null) return null
  try { return loadSigner(readFileSync(s.keyPath, 'utf8')) } catch (err) {
    log('error', `audit checkpoint key ${s.keyPath} unusable: checkpoints are written unsigned`, err)
    return null
  }
}

// BullMQ and ioredis load only when the queue is on (a file-only trail thread starts faster).
let ProducerClass: typeof Producer | null = null

async function startProducer (s: TrailSettings): Promise<Producer | null> {
  const q = s.queue
  if (q === null) return null
  ProducerClass ??= (await import('./producer.js')).Producer
  let password: string | undefined
  if (q.passwordEnv !== undefined) {
    password = process.env[q.passwordEnv]
    if (password === undefined || password === '') log('error', `audit queue: environment variable ${q.passwordEnv} (redis.passwordEnv) is not set`)
  }
  if (closing) return null
  return new ProducerClass({
    dir: data.dir, entity: data.entity, node: data.node, redisUrl: q.redisUrl, password, keyPrefix: q.keyPrefix, queueName: q.queueName, maxJobBytes: q.maxJobBytes,
  }, writer, {
    onEnqueued (records) { shared.stats[Stat.Enqueued] += records },
    onRedis (up, err) {
      shared.stats[Stat.RedisUp] = up ? 1 : 0
      if (up) log('info', 'audit queue: Redis takes jobs; exporting the spool')
      else log('warn', 'audit queue: Redis unreachable; records stay in the local spool', err)
    },
    onProblem (message, err) { log('error', message, err) },
  })
}

try {
  signer = loadKey(settings)
  writer = new SegmentWriter({
    dir: data.dir, entity: data.entity, node: data.node,
    rotate: { ...settings.rotate }, checkpoint: { ...settings.checkpoint }, maxUnwrittenBytes: settings.maxBufferBytes,
  }, signer, {
    onCheckpoint (line) { producer?.checkpoint(writer.trail, writer.lastCheckpointSeq, line) },
    onProblem (message, err) { log(err === undefined ? 'info' : 'error', message, err) },
  })
  Atomics.store(shared.flags, Flag.State, 1)
  startProducer(settings).then((p) => { producer = p }, (err: unknown) => { log('error', 'audit queue: cannot start the producer', err) })
} catch (err) {
  log('error', `cannot open the audit trail in ${data.dir}`, err)
  Atomics.store(shared.flags, Flag.State, 2)
  Atomics.store(shared.flags, Flag.Refusing, 1)
  throw err
}

let checkpointTimer = setInterval(onCheckpointTick, settings.checkpoint.intervalMs)
const boundsTimer = setInterval(onBoundsTick, 1000)

function onCheckpointTick (): void { writer.checkpoint() }

function onBoundsTick (): void {
  if (writer.failing) writer.retry()
  bounds()
  publish()
}

function bounds (): void {
  const s = applyBounds(writer.segments, writer.current, producer?.pos ?? null, writer.seq, settings.spool as SpoolOptions, settings.retainBytes, {
    onDropped (segment, records) {
      shared.stats[Stat.ExportDropped] += records
      log('warn', `audit spool over ${settings.spool.maxBytes} bytes: deleted ${segment.path} before export (${records} records)`)
    },
    onProblem (message, err) { log('error', message, err) },
  })
  shared.stats[Stat.SpoolBytes] = s.spoolBytes
  Atomics.store(shared.flags, Flag.Refusing, s.refusing || writer.failing ? 1 : 0)
}

function publish (): void {
  const st = shared.stats
  st[Stat.Records] = writer.seq
  st[Stat.BytesWritten] = writer.bytesWritten
  st[Stat.WriteErrors] = writer.writeErrors
  st[Stat.Checkpoints] = writer.checkpoints
  st[Stat.Lost] = writer.lost
  st[Stat.Segments] = writer.segments.length
  st[Stat.Unwritten] = writer.unwrittenBytes
  st[Stat.QueueDepth] = producer === null ? -1 : producer.queueDepth
}

function onMessage (m: ToWorker): void {
  if (closing && m.t !== 'close') return
  switch (m.t) {
    case 'wake':
      drain()
      break
    case 'config':
      reconfigure(m.settings)
      break
    case 'close':
      close()
      break
  }
}

function reconfigure (next: TrailSettings): void {
  const queueChanged = JSON.stringify(next.queue) !== JSON.stringify(settings.queue)
  if (next.keyPath !== settings.keyPath) signer = loadKey(next)
  writer.o.rotate = { ...next.rotate }
  writer.o.checkpoint = { ...next.checkpoint }
  writer.o.maxUnwrittenBytes = next.maxBufferBytes
  writer.setSigner(signer)
  if (next.checkpoint.intervalMs !== settings.checkpoint.intervalMs) {
    clearInterval(checkpointTimer)
    checkpointTimer = setInterval(onCheckpointTick, next.checkpoint.intervalMs)
  }
  settings = next
  if (queueChanged) {
    const old = producer
    producer = null
    void (old?.close() ?? Promise.resolve()).then(() => startProducer(settings)).then((p) => { producer = p }, (err: unknown) => { log('error', 'audit queue: cannot start the producer', err) })
  }
}

function take (text: string): void {
  shared.stats[Stat.RecordsIn] += writer.append(text)
}

/** Take everything in the ring: hash, write, then let the producer and the bounds know. */
function drain (): void {
  const before = writer.segments.length
  if (ring.drain(take) === 0) return
  if (writer.segments.length !== before) bounds()
  publish()
  producer?.wake()
}

function close (): void {
  if (closing) return
  drain()
  closing = true
  clearInterval(checkpointTimer)
  clearInterval(boundsTimer)
  try {
    writer.close()
    publish()
  } finally {
    // The gateway's thread waits on this flag (Atomics.wait) before it exits.
    Atomics.store(shared.flags, Flag.Closed, 1)
    Atomics.notify(shared.flags, Flag.Closed)
  }
  void producer?.close().finally(() => port.close())
}

port.on('message', onMessage)
