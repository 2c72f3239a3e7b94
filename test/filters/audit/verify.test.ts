import test from 'ava'
import { generateKeyPairSync } from 'node:crypto'
import { appendFileSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { canonical } from '../../../filters/audit/canonical.js'
import { loadSigner } from '../../../filters/audit/checkpoint.js'
import { chainHash } from '../../../filters/audit/hash-chain.js'
import { verifyTrail, type VerifyFile } from '../../../filters/audit/verify.js'
import { lines, segmentFiles, tempDir, writeTrail } from './_trail.js'

const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const signer = loadSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)
const other = generateKeyPairSync('ed25519').publicKey

function read (dir: string, extra: string[] = []): VerifyFile[] {
  return [...segmentFiles(dir), join(dir, 'checkpoints.ndjson'), ...extra].map(f => ({ name: f, text: readFileSync(f, 'utf8') }))
}

function rewrite (file: string, edit: (ls: string[]) => string[]): void {
  writeFileSync(file, edit(lines(file)).join('\n') + '\n')
}

test('an intact trail passes: chain, segment links over rotations, signed checkpoints; given in any order', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 60, signer, checkpointEvery: 10, rotateBytes: 8000 })
  t.true(segmentFiles(dir).length >= 3)
  const r = verifyTrail(read(dir).reverse(), publicKey)
  t.deepEqual(r.problems, [])
  t.true(r.ok)
  t.regex(r.summary[0], /records 1\.\.60 in segments 1\.\.\d+, \d+ checkpoints \(signed by sha256:/)
})

test('an edited record is found and named (its hash no longer matches)', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 20, signer })
  const f = segmentFiles(dir)[0]
  rewrite(f, ls => ls.map(l => l.includes('"seq":7,') ? l.replace('"status":0', '"status":7') : l))
  const r = verifyTrail(read(dir), publicKey)
  t.false(r.ok)
  t.is(r.problems.length, 1)
  t.regex(r.problems[0], /:8: record seq 7 \(id [0-9a-f]{16}\.7\) was altered/)
})

test('an edited record whose hash was recomputed breaks the next link: named there', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 20 })
  const f = segmentFiles(dir)[0]
  // Re-hash record 7 as an attacker without the key could; record 8 then no longer chains.
  rewrite(f, ls => {
    const prev = JSON.parse(ls[6]).h as string
    const o = JSON.parse(ls[7]) as Record<string, any>
    o.call.status = 7
    delete o.h
    o.h = chainHash(prev, canonical(o))
    ls[7] = JSON.stringify(o)
    return ls
  })
  const r = verifyTrail(read(dir), null)
  t.regex(r.problems[0] ?? '', /:9: record seq 8 .* was altered/)
})

test('a deleted record is found and named', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 20, signer })
  rewrite(segmentFiles(dir)[0], ls => ls.filter(l => !l.includes('"seq":12,')))
  const r = verifyTrail(read(dir), publicKey)
  t.false(r.ok)
  t.regex(r.problems[0], /record seq 12 missing \(deleted\): seq 13 follows seq 11/)
})

test('re-ordered records are found and named', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 20, signer })
  rewrite(segmentFiles(dir)[0], ls => { const a = ls[5]; ls[5] = ls[6]; ls[6] = a; return ls })
  const r = verifyTrail(read(dir), publicKey)
  t.false(r.ok)
  t.regex(r.problems[0], /record seq 6 is out of order \(re-ordered\): seq 5 was expected here and is at .*:7/)
})

test('a trail cut after its last checkpoint is found (the exported checkpoints cover records it no longer has)', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 30, signer, checkpointEvery: 10 })
  const f = segmentFiles(dir)[0]
  // Cut the segment after record 24: the in-file checkpoints after it go too, checkpoints.ndjson keeps them.
  rewrite(f, ls => ls.slice(0, ls.findIndex(l => l.includes('"seq":24,') && l.includes('"k":"rec"')) + 1))
  const r = verifyTrail(read(dir), publicKey)
  t.false(r.ok)
  t.regex(r.problems[0], /was cut: checkpoint .*checkpoints\.ndjson:\d+ .* covers records up to seq 30, but the trail ends at seq 24 \(records 25\.\.30 missing\)/)
  // The segment alone (no exported checkpoints) cannot tell: which is why checkpoints are exported on their own.
  t.true(verifyTrail([{ name: f, text: readFileSync(f, 'utf8') }], publicKey).ok)
})

test('a cut in the middle of a line, a missing segment, a forged checkpoint and the wrong key are found', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 40, signer, checkpointEvery: 10, rotateBytes: 6000 })
  const segs = segmentFiles(dir)
  t.true(segs.length >= 3)
  // torn end
  const last = segs[segs.length - 1]
  const size = readFileSync(last).length
  truncateSync(last, size - 40)
  t.regex(verifyTrail(read(dir), publicKey).problems[0], /ends in a partial line|was cut/)
  // a whole middle segment deleted
  const d2 = tempDir(t)
  writeTrail(d2, { records: 40, signer, checkpointEvery: 10, rotateBytes: 6000 })
  unlinkSync(segmentFiles(d2)[1])
  t.regex(verifyTrail(read(d2), publicKey).problems[0], /segment 2 missing \(segment 3 at .* follows segment 1\)/)
  // a checkpoint signed by another key, and the right checkpoints against the wrong key
  const d3 = tempDir(t)
  writeTrail(d3, { records: 20, signer, checkpointEvery: 10 })
  const forged = lines(join(d3, 'checkpoints.ndjson'))[0].replace(/"seq":10/, '"seq":11')
  appendFileSync(join(d3, 'checkpoints.ndjson'), forged + '\n')
  t.regex(verifyTrail(read(d3), publicKey).problems[0], /checkpoint at seq 11 has a bad signature/)
  const d4 = tempDir(t)
  writeTrail(d4, { records: 20, signer, checkpointEvery: 10 })
  t.regex(verifyTrail(read(d4), other).problems[0], /is signed by sha256:[0-9a-f]+, not by the given key/)
  const noKey = verifyTrail(read(d4), null)
  t.true(noKey.needsKey)
  t.false(noKey.ok)
})

test('a restart continues the chain in a new segment; a torn last line left by a crash is declared by the next header', t => {
  const dir = tempDir(t)
  writeTrail(dir, { records: 10, signer })
  // Simulate a crash mid-write: a partial line at the end of segment 1.
  appendFileSync(segmentFiles(dir)[0], '{"call":{"addr":"127.0.0')
  const w = writeTrail(dir, { records: 10, signer }, 11)
  t.is(w.seq, 20)
  const segs = segmentFiles(dir)
  t.is(segs.length, 2)
  const header = JSON.parse(lines(segs[1])[0]) as Record<string, unknown>
  t.like(header, { k: 'seg', seg: 2, next: 11, torn: 24 })
  const r = verifyTrail(read(dir), publicKey)
  t.deepEqual(r.problems, [])
  t.true(r.ok)
})
