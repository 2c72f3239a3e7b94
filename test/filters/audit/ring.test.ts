import test from 'ava'
import fc from 'fast-check'
import { RecordRing } from '../../../filters/audit/record-ring.js'
import { verifyTrail } from '../../../filters/audit/verify.js'
import { lines, segmentFiles, tempDir, writeTrail } from './_trail.js'
import { SegmentWriter } from '../../../filters/audit/segment-writer.js'
import { readFileSync } from 'node:fs'

function ring (size = 65536): { w: RecordRing, r: RecordRing } {
  const buf = RecordRing.allocate(size)
  const pos = new Int32Array(new SharedArrayBuffer(8))
  return { w: new RecordRing(buf, pos), r: new RecordRing(buf, pos) }
}

test('whole lines come out in order across many wraps; a full ring refuses instead of overwriting', t => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 3000 }), fc.boolean()), { maxLength: 400 }), (items) => {
    const { w, r } = ring()
    const out: string[] = []
    const want: string[] = []
    const take = (text: string): void => { for (const l of text.split('\n')) if (l !== '') out.push(l) }
    let i = 0
    for (const [s, drainNow] of items) {
      const json = JSON.stringify(s)
      if (w.write(i, json)) want.push(`${i}\t${json}`)
      else t.true(w.used > 65536 / 2 - json.length * 3 - 24, 'refused only when nearly full')
      i++
      if (drainNow) r.drain(take)
    }
    r.drain(take)
    t.deepEqual(out, want)
    t.is(w.used, 0)
  }), { numRuns: 60 })
})

test('records of every size wrap around the end many times (the 0-byte marker) and still come out whole', t => {
  const { w, r } = ring()
  const out: string[] = []
  const want: string[] = []
  let bytes = 0
  for (let i = 0; i < 2000; i++) {
    const json = JSON.stringify('é'.repeat((i * 37) % 4000))
    t.true(w.write(i, json), `record ${i} fits`)
    want.push(`${i}\t${json}`)
    bytes += Buffer.byteLength(json)
    if (i % 5 === 4) r.drain(text => { for (const l of text.split('\n')) if (l !== '') out.push(l) })
  }
  r.drain(text => { for (const l of text.split('\n')) if (l !== '') out.push(l) })
  t.true(bytes > 20 * 65536, 'wrapped many times')
  t.is(out.length, want.length)
  t.deepEqual(out, want)
})

test('a gap line is taken in order and the writer declares it in the trail (verify reports the loss)', t => {
  const { w, r } = ring()
  const dir = tempDir(t)
  writeTrail(dir, { records: 3 })
  const writer = new SegmentWriter({ dir, entity: 'bank', node: 'n1', rotate: { maxBytes: 1 << 20, intervalMs: 0 }, checkpoint: { records: 100, intervalMs: 10000 }, maxUnwrittenBytes: 1 << 20 }, null, { onCheckpoint () {}, onProblem () {} })
  const call = JSON.parse(lines(segmentFiles(dir)[0])[1]).call as object
  w.write(Date.now(), JSON.stringify(call))
  w.writeGap(7, 'gateway audit buffer full')
  w.write(Date.now(), JSON.stringify(call))
  r.drain(text => { writer.append(text) })
  writer.close()
  const entries = segmentFiles(dir).flatMap(f => lines(f).map(l => JSON.parse(l) as Record<string, unknown>))
  t.deepEqual(entries.filter(e => e.k !== 'ckpt').map(e => e.k), ['seg', 'rec', 'rec', 'rec', 'seg', 'rec', 'gap', 'rec'])
  t.like(entries.find(e => e.k === 'gap'), { count: 7, seq: 4, reason: 'gateway audit buffer full' })
  const v = verifyTrail(segmentFiles(dir).map(f => ({ name: f, text: readFileSync(f, 'utf8') })), null)
  t.deepEqual(v.problems, [])
  t.false(v.ok)
  t.regex(v.losses[0], /the gateway declared 7 records lost after seq 4 \(gateway audit buffer full\)/)
})
