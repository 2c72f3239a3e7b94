/**
 * The exporter keeps the queue's order when an exporter dies holding a job: the dead one's job
 * stays "active" in Redis until BullMQ's stalled check puts it back, and the jobs after it are
 * waiting. Delivering a later job first would move the sink's mark past the earlier job's lines,
 * and those would then be skipped as "already delivered": a silent loss. Real Redis, real
 * BullMQ workers, the real exporter and file sink.
 */
import test from 'ava'
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import pino from 'pino'
import { Exporter } from '../../filters/audit/export/exporter.js'
import { FileSink } from '../../filters/audit/export/sinks.js'
import { bullPrefix } from '../../filters/audit/producer.js'
import { tempDir } from '../filters/audit/_trail.js'
import { until } from '../filters/audit/_read.js'
import { requireRedis } from '../_helpers/redis.js'

test.before(requireRedis)

const REDIS = 'redis://127.0.0.1:6379'

function line (seq: number): string { return `{"id":"T.${seq}","k":"rec","seq":${seq}}` }

test('a job left active by a dead exporter is delivered before the jobs enqueued after it; none is skipped', async t => {
  t.timeout(120_000)
  const keyPrefix = `order-${randomUUID().slice(0, 8)}:`
  const prefix = bullPrefix(keyPrefix)
  const conn = new Redis(REDIS, { maxRetriesPerRequest: null })
  t.teardown(async () => {
    const keys = await conn.keys(`${keyPrefix}*`)
    if (keys.length > 0) await conn.del(...keys)
    conn.disconnect()
  })
  const queue = new Queue('audit', { connection: conn, prefix })
  t.teardown(() => queue.close())

  // Chunks as the producer makes them: whole lines, byte offsets, and where the one before ended.
  const a = line(1) + '\n' + line(2) + '\n'
  const b = line(3) + '\n'
  const c = line(4) + '\n'
  const la = Buffer.byteLength(a)
  const lb = Buffer.byteLength(b)
  const job = (from: string, seg: number, at: number, after: { seg: number, off: number } | null, afterJob: string | null): Record<string, unknown> =>
    ({ trail: 'T', entity: 'bank', node: 'n1', seg, from: at, to: at + Buffer.byteLength(from), lines: from, after, afterJob })
  await queue.add('records', job(a, 1, 0, null, null), { jobId: 'A', removeOnComplete: true })

  // The dead exporter: it took A (now active, locked for 1 s, never renewed) and vanished.
  const deadConn = new Redis(REDIS, { maxRetriesPerRequest: null })
  const dead = new Worker('audit', null, { connection: deadConn, prefix, lockDuration: 1000, autorun: false })
  const taken = await dead.getNextJob('dead-exporter')
  t.is(taken?.id, 'A')
  await dead.close(true)
  deadConn.disconnect()

  await queue.add('records', job(b, 1, la, { seg: 1, off: la }, 'A'), { jobId: 'B', removeOnComplete: true })
  await queue.add('records', job(c, 1, la + lb, { seg: 1, off: la + lb }, 'B'), { jobId: 'C', removeOnComplete: true })

  const dir = tempDir(t, 'isthmus-export-order-')
  const sinkFile = join(dir, 'audit.ndjson')
  const logged: string[] = []
  const logger = pino({ level: 'warn' }, { write: (s: string) => { logged.push(s) } })
  const exporter = new Exporter({
    redisUrl: REDIS, password: undefined, keyPrefix, queueName: 'audit', retry: { baseMs: 50, maxMs: 500 },
    sinks: [new FileSink('file', sinkFile, undefined, dir)], logger,
  })
  t.teardown(() => exporter.close())
  await exporter.start()

  await until(() => exporter.processed >= 3, 100_000, () => `processed ${exporter.processed} of 3 jobs; sink: ${existsSync(sinkFile) ? readFileSync(sinkFile, 'utf8') : '(none)'}`)
  const delivered = readFileSync(sinkFile, 'utf8').split('\n').filter(l => l !== '')
  t.deepEqual(delivered, [line(1), line(2), line(3), line(4)], 'every line once, in the order enqueued')
  t.true(logged.some(l => l.includes('a job arrived before the one enqueued ahead of it')), 'the wait is logged')
})

test('a job whose predecessor is not in the queue (lost with Redis) is delivered at once, and the gap is logged', async t => {
  t.timeout(60_000)
  const keyPrefix = `order-${randomUUID().slice(0, 8)}:`
  const conn = new Redis(REDIS, { maxRetriesPerRequest: null })
  t.teardown(async () => {
    const keys = await conn.keys(`${keyPrefix}*`)
    if (keys.length > 0) await conn.del(...keys)
    conn.disconnect()
  })
  const queue = new Queue('audit', { connection: conn, prefix: bullPrefix(keyPrefix) })
  t.teardown(() => queue.close())
  const a = line(1) + '\n'
  const la = Buffer.byteLength(a)
  const lost = line(2) + '\n'
  const c = line(3) + '\n'
  const at = la + Buffer.byteLength(lost)
  await queue.add('records', { trail: 'T', seg: 1, from: 0, to: la, lines: a, after: null, afterJob: null }, { jobId: 'A', removeOnComplete: true })
  // 'L' (seq 2) never reaches the queue: Redis lost it.
  await queue.add('records', { trail: 'T', seg: 1, from: at, to: at + Buffer.byteLength(c), lines: c, after: { seg: 1, off: at }, afterJob: 'L' }, { jobId: 'C', removeOnComplete: true })

  const dir = tempDir(t, 'isthmus-export-gap-')
  const sinkFile = join(dir, 'audit.ndjson')
  const logged: string[] = []
  const exporter = new Exporter({
    redisUrl: REDIS, password: undefined, keyPrefix, queueName: 'audit', retry: { baseMs: 50, maxMs: 500 },
    sinks: [new FileSink('file', sinkFile, undefined, dir)], logger: pino({ level: 'warn' }, { write: (s: string) => { logged.push(s) } }),
  })
  t.teardown(() => exporter.close())
  await exporter.start()
  await until(() => exporter.processed >= 2, 50_000, () => `processed ${exporter.processed} of 2 jobs`)
  t.deepEqual(readFileSync(sinkFile, 'utf8').split('\n').filter(l => l !== ''), [line(1), line(3)])
  t.true(logged.some(l => l.includes('delivering with a gap')), logged.join(''))
})
