/** Write a real trail with the gateway's writer (no gateway, no thread) for verify tests. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import type { Signer } from '../../../filters/audit/checkpoint.js'
import { callJson, compileHeaderRules } from '../../../filters/audit/record.js'
import { SegmentWriter } from '../../../filters/audit/segment-writer.js'
import { makeCall } from '../../_helpers/compile-filter.js'

const rules = compileHeaderRules([], [], 64)

export function tempDir (t: ExecutionContext, prefix = 'isthmus-audit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface WriteOptions { records: number, batch?: number, signer?: Signer | null, checkpointEvery?: number, rotateBytes?: number }

/** Append `records` calls (methods m1, m2, ...) in batches; returns the writer (closed). */
export function writeTrail (dir: string, o: WriteOptions, from = 1): SegmentWriter {
  const w = new SegmentWriter({
    dir, entity: 'bank', node: 'n1',
    rotate: { maxBytes: o.rotateBytes ?? 64 * 1024 * 1024, intervalMs: 0 },
    checkpoint: { records: o.checkpointEvery ?? 1000, intervalMs: 10000 },
    maxUnwrittenBytes: 1 << 20,
  }, o.signer ?? null, { onCheckpoint () {}, onProblem () {} })
  const batch = o.batch ?? 5
  for (let i = 0; i < o.records; i += batch) {
    let text = ''
    for (let j = i; j < Math.min(o.records, i + batch); j++) {
      const call = makeCall({ method: `m${from + j}` })
      call.status = 0
      call.endedAt = call.startedAt + 1
      text += `${Date.now()}\t${callJson(call, rules)}\n`
    }
    w.append(text)
  }
  w.close()
  return w
}

export function segmentFiles (dir: string): string[] {
  return readdirSync(dir).filter(n => n.startsWith('audit-')).sort().map(n => join(dir, n))
}

export function lines (file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(l => l !== '')
}
