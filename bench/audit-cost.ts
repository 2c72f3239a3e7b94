/**
 * `npx tsx bench/audit-cost.ts`: what the audit filter costs the event-loop thread per call
 * (building the record string and appending it to the batch), and the trail thread per record
 * (hash + write), measured in-process without the network. Medians of 5 runs of N calls.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { callJson, compileHeaderRules } from '../filters/audit/record.js'
import { SegmentWriter } from '../filters/audit/segment-writer.js'
import { Trail } from '../filters/audit/trail.js'
import { Call } from '../gateway/call/call.js'
import { ObjectHeaders } from '../gateway/call/headers.js'

const N = Number(process.env.N ?? 200000)
const dir = mkdtempSync(join(tmpdir(), 'isthmus-audit-cost-'))
const rules = compileHeaderRules([], ['authorization'], 256)
const headers = { ':path': '/isthmus.example.Greeter/SayHello', 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'h2load nghttp2/1.52.0', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }
const calls: Call[] = []
for (let i = 0; i < 1000; i++) {
  const c = new Call('triple', 'triple', new ObjectHeaders({ ...headers }), '127.0.0.1')
  c.service = 'isthmus.example.Greeter'; c.method = 'SayHello'; c.status = 0; c.route = { name: 'greeter' } as never; c.cluster = { name: 'greeter' } as never; c.host = { id: '127.0.0.1:50051' } as never; c.bytesIn = 105; c.bytesOut = 105; c.endedAt = c.startedAt + 0.8
  calls.push(c)
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]
/** CPU time of this thread (the event loop), µs: on a shared machine wall time would count other work. */
function threadCpu (): number {
  const f = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8')
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return (Number(x[11]) + Number(x[12])) * 10000
}
function time (f: (i: number) => void): number {
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    const t0 = threadCpu()
    for (let i = 0; i < N; i++) f(i)
    runs.push((threadCpu() - t0) / N)
  }
  return median(runs)
}
let sink = 0
const build = time(i => { sink += callJson(calls[i % 1000], rules).length })
const trail = Trail.acquire(join(dir, 'trail'), { entity: 'bench', node: 'n1' }, {
  rotate: { maxBytes: 64 << 20, intervalMs: 0 }, checkpoint: { records: 1000, intervalMs: 10000 }, keyPath: null,
  maxBufferBytes: 8 << 20, retainBytes: 0, spool: { maxBytes: 1 << 30, onFull: 'drop' }, queue: null,
}, 50, pino({ level: 'silent' }))
const append = time(i => { const c = calls[i % 1000]; trail.append(Math.round(Date.now() - c.durationMs), callJson(c, rules)) })
trail.release(trail.generation)
const w = new SegmentWriter({ dir: join(dir, 'w'), entity: 'bench', node: 'n1', rotate: { maxBytes: 64 << 20, intervalMs: 0 }, checkpoint: { records: 1000, intervalMs: 10000 }, maxUnwrittenBytes: 1 << 20 }, null, { onCheckpoint () {}, onProblem () {} })
let batch = ''
for (let i = 0; i < 300; i++) batch += `${Date.now()}\t${callJson(calls[i], rules)}\n`
const per = time(i => { if (i % 300 === 0) w.append(batch) })
w.close()
rmSync(dir, { recursive: true, force: true })
console.log(`event-loop thread: build the record ${build.toFixed(2)} µs, build + append to the batch ${append.toFixed(2)} µs per call`)
console.log(`trail thread: hash + write ${per.toFixed(2)} µs per record (batches of 300, measured on this thread)`)
if (sink < 0) console.log(sink)
