/**
 * `isthmus audit verify`: check trail files (segments, an exported NDJSON copy, checkpoint
 * files, in any order) and name the first problem of each trail: an edited record (its hash
 * does not match), a missing one (a seq gap), re-ordered ones, a missing segment, a cut
 * (the trail ends before a checkpoint's seq, or in a partial line), a bad or missing
 * signature. Losses the gateway declared itself (gap entries) are reported too. Intact means
 * no problem and no loss.
 */
import type { KeyObject } from 'node:crypto'
import { canonical } from './canonical.js'
import { checkpointSignatureValid, keyId } from './checkpoint.js'
import { chainHash, GENESIS } from './hash-chain.js'

export interface VerifyFile { readonly name: string, readonly text: string }

export interface VerifyReport {
  /** No problem and no declared loss. */
  readonly ok: boolean
  /** The first problem of each trail (and file-level ones). */
  readonly problems: string[]
  /** Losses the gateway declared (gap entries). */
  readonly losses: string[]
  /** One line per trail. */
  readonly summary: string[]
  /** Signed checkpoints were found but no key was given to check them. */
  readonly needsKey: boolean
}

type Obj = Record<string, unknown>
interface Entry { obj: Obj, where: string }
interface Segment { trail: string, n: number, header: Entry, entries: Entry[], torn: number, file: string }

function where (file: string, line: number): string { return `${file}:${line}` }
function withoutH (o: Obj): Obj { const { h: _h, ...rest } = o; return rest }
function num (v: unknown): number { return typeof v === 'number' ? v : NaN }

/** Split files into segments (a `seg` line starts one) and collect checkpoints. */
function parse (files: readonly VerifyFile[], problems: string[]): { segments: Segment[], checkpoints: Entry[] } {
  const segments: Segment[] = []
  const checkpoints: Entry[] = []
  for (const f of files) {
    const lines = f.text.split('\n')
    const tail = lines.pop() ?? ''
    let cur: Segment | null = null
    let orphan = 0
    lines.forEach((raw, i) => {
      if (raw.trim() === '') return
      let obj: Obj
      try {
        const v = JSON.parse(raw) as unknown
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
        obj = v as Obj
      } catch {
        problems.push(`${where(f.name, i + 1)}: not a JSON object (the line was altered)`)
        return
      }
      const e = { obj, where: where(f.name, i + 1) }
      if (obj.k === 'ckpt') { checkpoints.push(e); return }
      if (obj.k === 'seg') {
        cur = { trail: String(obj.trail), n: num(obj.seg), header: e, entries: [], torn: 0, file: f.name }
        segments.push(cur)
        return
      }
      if (cur === null) { orphan++; if (orphan === 1) problems.push(`${e.where}: entry before any segment header (the header was removed?)`); return }
      ;(cur as Segment).entries.push(e)
    })
    const last = cur as Segment | null
    if (tail !== '' && last !== null) last.torn = Buffer.byteLength(tail)
    else if (tail !== '') problems.push(`${f.name}: ends in a partial line and holds no segment header`)
  }
  return { segments, checkpoints }
}

interface TrailWalk {
  problem: string | null
  losses: string[]
  firstSeq: number
  lastSeq: number
  /** h of every chained entry -> seq of the last record at or before it. */
  heads: Map<string, number>
  segs: number[]
  /** Chained lines of other kinds than seg, rec, gap (events: `mirror`...), by kind. */
  events: Map<string, number>
  entity: string
  node: string
}

function walk (trail: string, segs: Segment[]): TrailWalk {
  const w: TrailWalk = { problem: null, losses: [], firstSeq: 0, lastSeq: 0, heads: new Map(), segs: [], events: new Map(), entity: '', node: '' }
  // Where each record seq is, to tell a deletion from a re-ordering.
  const at = new Map<number, string>()
  for (const s of segs) for (const e of s.entries) if (e.obj.k === 'rec') at.set(num(e.obj.seq), e.where)
  let head = ''
  let expected = -1
  let prevSeg: Segment | null = null
  for (const s of segs) {
    const h = s.header.obj
    w.segs.push(s.n)
    w.entity = String(h.entity)
    w.node = String(h.node)
    if (prevSeg !== null) {
      if (s.n !== prevSeg.n + 1) { w.problem = `trail ${trail}: segment${s.n - prevSeg.n > 2 ? 's' : ''} ${prevSeg.n + 1}${s.n - prevSeg.n > 2 ? '..' + (s.n - 1) : ''} missing (segment ${s.n} at ${s.header.where} follows segment ${prevSeg.n})`; return w }
      if (h.prev !== head) { w.problem = `${s.header.where}: segment ${s.n} header links to hash ${String(h.prev).slice(0, 16)}…, but segment ${prevSeg.n} ends with ${head.slice(0, 16)}… (the end of segment ${prevSeg.n} was cut or altered)`; return w }
      if (num(h.next) !== expected) { w.problem = `${s.header.where}: segment ${s.n} starts at seq ${String(h.next)}, but segment ${prevSeg.n} ends at seq ${expected - 1} (records missing)`; return w }
      if (prevSeg.torn > 0 && num(h.torn) !== prevSeg.torn) { w.problem = `trail ${trail}: segment ${prevSeg.n} ends in a partial line of ${prevSeg.torn} bytes that segment ${s.n} does not declare (cut or altered)`; return w }
    } else {
      head = typeof h.prev === 'string' ? h.prev : GENESIS
      expected = num(h.next)
      w.firstSeq = expected
      if (!Number.isInteger(expected) || expected < 1) { w.problem = `${s.header.where}: segment header without a valid "next" seq (altered)`; return w }
      // Earlier segments not given (deleted by retention): the header's link is the anchor.
      if (expected > 1) w.heads.set(head, expected - 1)
    }
    if (chainHash(head, canonical(withoutH(h))) !== h.h) { w.problem = `${s.header.where}: segment ${s.n} header was altered (its hash does not match)`; return w }
    head = h.h as string
    w.heads.set(head, expected - 1)
    for (const e of s.entries) {
      const o = e.obj
      if (typeof o.h !== 'string') { w.problem = `${e.where}: ${o.k === 'rec' ? `record seq ${String(o.seq)}` : 'entry'} has no hash (altered)`; return w }
      if (o.k === 'rec') {
        const seq = num(o.seq)
        if (seq !== expected) {
          const there = at.get(expected)
          if (seq > expected && there === undefined) {
            w.problem = `${e.where}: record${seq - expected > 1 ? 's' : ''} seq ${expected}${seq - expected > 1 ? '..' + (seq - 1) : ''} missing (deleted): seq ${seq} follows seq ${expected - 1}`
          } else {
            w.problem = `${e.where}: record seq ${seq} is out of order (re-ordered): seq ${expected} was expected here${there !== undefined ? ` and is at ${there}` : ''}`
          }
          return w
        }
        if (o.id !== `${trail}.${seq}`) { w.problem = `${e.where}: record seq ${seq} was altered (its id is ${JSON.stringify(o.id)})`; return w }
      }
      if (chainHash(head, canonical(withoutH(o))) !== o.h) {
        w.problem = o.k === 'rec'
          ? `${e.where}: record seq ${String(o.seq)} (id ${String(o.id)}) was altered: its hash does not match its content or the entry before it`
          : `${e.where}: ${String(o.k)} entry was altered (its hash does not match)`
        return w
      }
      head = o.h
      if (o.k === 'rec') { w.lastSeq = expected; expected++ }
      if (o.k !== 'rec' && o.k !== 'gap') w.events.set(String(o.k), (w.events.get(String(o.k)) ?? 0) + 1)
      if (o.k === 'gap') w.losses.push(`${e.where}: the gateway declared ${String(o.count)} records lost after seq ${String(o.seq)} (${String(o.reason)})`)
      w.heads.set(head, expected - 1)
    }
    if (w.lastSeq === 0) w.lastSeq = expected - 1
    prevSeg = s
  }
  if (prevSeg !== null && prevSeg.torn > 0) {
    w.problem = `trail ${trail}: segment ${prevSeg.n} (${prevSeg.file}) ends in a partial line of ${prevSeg.torn} bytes after seq ${expected - 1} (cut, or a crash the gateway did not restart from)`
  }
  w.lastSeq = expected - 1
  return w
}

export function verifyTrail (files: readonly VerifyFile[], publicKey: KeyObject | null): VerifyReport {
  const problems: string[] = []
  const losses: string[] = []
  const summary: string[] = []
  const { segments, checkpoints } = parse(files, problems)
  const kid = publicKey === null ? null : keyId(publicKey)
  let needsKey = false
  const trails = new Map<string, Segment[]>()
  for (const s of segments) {
    const list = trails.get(s.trail) ?? []
    // The same segment given twice (a local file and an exported copy): keep one.
    const dup = list.find(x => x.n === s.n)
    if (dup !== undefined) {
      if (dup.entries.length !== s.entries.length || dup.header.obj.h !== s.header.obj.h || dup.entries.at(-1)?.obj.h !== s.entries.at(-1)?.obj.h) {
        problems.push(`trail ${s.trail}: segment ${s.n} appears twice with different content (${dup.header.where}, ${s.header.where})`)
      }
      continue
    }
    list.push(s)
    trails.set(s.trail, list)
  }
  const ckptsByTrail = new Map<string, Obj[]>()
  const seenCkpt = new Set<string>()
  for (const c of checkpoints) {
    const key = `${String(c.obj.trail)}|${String(c.obj.seq)}|${String(c.obj.head)}|${String(c.obj.sig)}`
    if (seenCkpt.has(key)) continue
    seenCkpt.add(key)
    const list = ckptsByTrail.get(String(c.obj.trail)) ?? []
    list.push({ ...c.obj, _where: c.where })
    ckptsByTrail.set(String(c.obj.trail), list)
  }
  for (const t of ckptsByTrail.keys()) if (!trails.has(t)) problems.push(`trail ${t}: checkpoints given but none of its segments (the whole trail is missing)`)

  for (const [trail, segs] of trails) {
    segs.sort((a, b) => a.n - b.n)
    const w = walk(trail, segs)
    losses.push(...w.losses)
    const ckpts = (ckptsByTrail.get(trail) ?? []).sort((a, b) => num(a.seq) - num(b.seq))
    let problem = w.problem
    let covered = 0
    let signedBy = 'unsigned'
    for (const c of ckpts) {
      const at = String(c._where)
      const { _where: _w, ...body } = c
      const seq = num(body.seq)
      if (body.alg !== 'none') {
        if (publicKey === null) needsKey = true
        else if (body.kid !== kid) { problem ??= `${at}: checkpoint at seq ${seq} is signed by ${String(body.kid)}, not by the given key ${kid}`; continue }
        else if (!checkpointSignatureValid(body, publicKey)) { problem ??= `${at}: checkpoint at seq ${seq} has a bad signature (altered)`; continue }
        else signedBy = `signed by ${kid}`
      } else if (publicKey !== null) {
        problem ??= `${at}: checkpoint at seq ${seq} is unsigned, but a key was given (the gateway had no usable key, or the checkpoint was replaced)`
        continue
      }
      if (seq < w.firstSeq - 1) continue // covers segments not given
      if (seq > w.lastSeq) {
        if (w.problem !== null) continue // the walk stopped early: that problem is the one to name
        problem ??= `trail ${trail} was cut: checkpoint ${at} (${String(body.time)}) covers records up to seq ${seq}, but the trail ends at seq ${w.lastSeq} (records ${w.lastSeq + 1}..${seq} missing)`
        continue
      }
      if (w.heads.get(String(body.head)) !== seq) {
        problem ??= `trail ${trail}: checkpoint ${at} at seq ${seq} does not match the trail (its head hash is not the chain's there: records up to seq ${seq} were replaced)`
        continue
      }
      covered = Math.max(covered, seq)
    }
    if (problem !== null) problems.push(problem)
    const range = w.lastSeq >= w.firstSeq ? `records ${w.firstSeq}..${w.lastSeq}` : 'no records'
    const after = w.lastSeq - Math.max(covered, w.firstSeq - 1)
    summary.push(`trail ${trail} (entity ${w.entity}, node ${w.node}): ${range} in segment${w.segs.length > 1 ? 's' : ''} ${w.segs[0]}..${w.segs.at(-1)}, ` +
      `${ckpts.length} checkpoint${ckpts.length === 1 ? '' : 's'} (${publicKey === null && needsKey ? 'signatures not checked' : signedBy})` +
      (ckpts.length > 0 ? `, the newest covers seq ${covered}` : '') + (after > 0 ? `; ${after} record${after === 1 ? '' : 's'} after it not yet covered by a checkpoint` : '') +
      (w.events.size > 0 ? `; event lines: ${[...w.events].map(([k, n]) => `${n} ${k}`).join(', ')}` : ''))
  }
  if (trails.size === 0 && problems.length === 0) problems.push('no audit segment in the given files')
  return { ok: problems.length === 0 && losses.length === 0 && !needsKey, problems, losses, summary, needsKey }
}
