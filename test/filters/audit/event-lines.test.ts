/** Event lines (`E\t...` in the ring) as the trail thread's writer chains them: canonical, linked by ref to their record, verified, edits and deletions found. */
import test from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { canonical } from '../../../filters/audit/canonical.js'
import { SegmentWriter } from '../../../filters/audit/segment-writer.js'
import { eventLine } from '../../../filters/audit/event-line.js'
import { callJson, compileHeaderRules } from '../../../filters/audit/record.js'
import { verifyTrail } from '../../../filters/audit/verify.js'
import { makeCall } from '../../_helpers/compile-filter.js'
import { lines, segmentFiles, tempDir } from './_trail.js'

const rules = compileHeaderRules([], [], 64)

function writer (dir: string): SegmentWriter {
  return new SegmentWriter({ dir, entity: 'bank', node: 'n1', rotate: { maxBytes: 1 << 26, intervalMs: 0 }, checkpoint: { records: 1000, intervalMs: 10000 }, maxUnwrittenBytes: 1 << 20 },
    null, { onCheckpoint () {}, onProblem () {} })
}

test('linked records and event lines: rec names the linked record (null for an unknown ref), bytes are canonical, the trail verifies; an edit or a deletion is found', t => {
  const dir = tempDir(t)
  const w = writer(dir)
  const call = makeCall({ method: 'Get', headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } })
  call.status = 0
  const rec = callJson(call, rules)
  const ev = (ref: number, n: number): string => eventLine(call, { kind: 'mirror', data: { n, differ: ['digest'], primary: { digest: 'sha256:aa' } } }, ref, Date.now())!
  w.append(`${Date.now()}\t${rec}\n${Date.now()},7\t${rec}\n${Date.now()}\t${rec}\n` + ev(7, 1) + ev(99, 2) + ev(0, 3))
  w.append(`${Date.now()}\t${rec}\n`)
  w.close()
  const file = segmentFiles(dir).find(f => f.includes('audit-'))!
  const ls = lines(file)
  const objs = ls.map(l => JSON.parse(l) as Record<string, any>)
  t.deepEqual(objs.map(o => o.k), ['seg', 'rec', 'rec', 'rec', 'mirror', 'mirror', 'mirror', 'rec', 'ckpt'])
  const trail = objs[0].trail as string
  t.deepEqual(objs.filter(o => o.k === 'mirror').map(o => o.rec), [`${trail}.2`, null, null])
  t.deepEqual(objs[4].trace, { id: '0af7651916cd43dd8448eb211c80319c', parent: 'b7ad6b7169203331', sofaRpcId: '', sofaTraceId: '', span: null })
  t.deepEqual(objs[4].data, { differ: ['digest'], n: 1, primary: { digest: 'sha256:aa' } })
  for (let i = 0; i < ls.length - 1; i++) {
    const { h: _h, ...rest } = objs[i]
    t.is(ls[i], canonical(rest).slice(0, -1) + `,"h":"${String(objs[i].h)}"}`, `line ${i + 1} is canonical`)
  }
  const files = () => [{ name: 'seg', text: readFileSync(file, 'utf8') }]
  const intact = verifyTrail(files(), null)
  t.deepEqual(intact.problems, [])
  t.regex(intact.summary[0], /records 1\.\.4 in segment 1\.\.1, .*; event lines: 3 mirror$/)

  const original = readFileSync(file, 'utf8')
  writeFileSync(file, original.replace('"n":1', '"n":5'))
  t.regex(verifyTrail(files(), null).problems.join('\n'), /^seg:5: mirror entry was altered/)
  writeFileSync(file, ls.filter((_, i) => i !== 5).join('\n') + '\n')
  t.regex(verifyTrail(files(), null).problems.join('\n'), /^seg:6: mirror entry was altered/, 'a deleted line breaks the chain at the next one')
})

test('eventLine refuses reserved and malformed kinds, non-JSON and oversized data', t => {
  const call = makeCall()
  const ok = eventLine(call, { kind: 'mirror', data: { a: 1 } }, 0, 1)
  t.regex(ok!, /^E\t0\t1\tmirror\t\{"a":1\}\t\{"id":/)
  for (const kind of ['rec', 'seg', 'gap', 'ckpt', 'Mirror', 'a\tb', '', 'x'.repeat(40)]) t.is(eventLine(call, { kind, data: {} }, 0, 1), null, kind)
  t.is(eventLine(call, { kind: 'x', data: { big: 1n } as unknown as Record<string, unknown> }, 0, 1), null)
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  t.is(eventLine(call, { kind: 'x', data: cyclic }, 0, 1), null)
  t.is(eventLine(call, { kind: 'x', data: { s: 'x'.repeat(17000) } }, 0, 1), null)
  t.is(eventLine(call, { kind: 'x', data: { s: 'a "k":"b" \t\n' } }, 0, 1)!.split('\n').length, 2, 'a tab or newline in a value stays escaped: one line')
})
