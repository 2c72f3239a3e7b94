/**
 * The hessian2 content check against the real peer: requests encoded by sofa-bolt-node pass;
 * mutated ones the real decoder (sofa-bolt-node's protocol decode, class cache on as a
 * sofa-rpc-node server has it) throws on are refused.
 */
import { createRequire } from 'node:module'
import test from 'ava'
import fc from 'fast-check'
import type { BoltFrame } from '../../../../gateway/protocol/bolt/command.js'
import { BoltDecoder } from '../../../../gateway/protocol/bolt/decoder.js'
import { normalizeSwitch } from '../../../../gateway/protocol/bolt/encoder.js'
import { BoltHeaderView } from '../../../../gateway/protocol/bolt/header-view.js'
import { checkBoltContent, checkHessianContent, MAX_DEPTH } from '../../../../gateway/protocol/bolt/hessian-check.js'
import { withHeaderMap } from '../../../_helpers/bolt-frames.js'
import { boltRequest } from '../../../_helpers/hostile-bolt.js'

const require = createRequire(import.meta.url)
const protocol = require('sofa-bolt-node/lib/protocol') as { decode (buf: Buffer, o: Record<string, unknown>): unknown }

type ClassCache = Map<string, unknown> & { enableCompile?: boolean }
/**
 * Does the real decoder (as a sofa-rpc-node server runs it, class cache on) throw on this v1
 * frame? `warm`: the cache starts with what earlier good requests defined, as on a live
 * connection (a copy: each frame is judged alone).
 */
function realThrows (frame: Buffer, warm?: ClassCache): boolean {
  const classCache: ClassCache = new Map(warm ?? [])
  classCache.enableCompile = true
  try { protocol.decode(frame, { classCache }); return false } catch { return true }
}

/** The check on a v1 request frame. */
function check (f: Buffer): string {
  const cl = f.readInt16BE(14)
  const hl = f.readInt16BE(16)
  return checkHessianContent(f, 22, 22 + cl, 22 + cl + hl, f.length)
}

const contentStart = (f: Buffer): number => 22 + f.readInt16BE(14) + f.readInt16BE(16)

const samples: Buffer[] = [
  boltRequest({ id: 1, service: 'com.isthmus.test.EchoService:1.0', method: 'plus', args: [1, 2] }),
  boltRequest({ id: 2, service: 'com.isthmus.test.EchoService:1.0', method: 'echo', args: ['héllo wörld ✓'] }),
  boltRequest({ id: 3, service: 'com.isthmus.test.EchoService:1.0', method: 'echo', args: ['x'.repeat(70000)] }),
  boltRequest({ id: 4, service: 'a:1.0', method: 'none', args: [], targetAppName: 'app' }),
]

test('a SofaRequest whose definition orders its fields otherwise is refused: a provider whose cache saw the usual order would read its values under the cached names', t => {
  const usual = '\x0amethodName\x0dmethodArgSigs\x17targetServiceUniqueName\x0dtargetAppName\x0crequestProps'
  const other = '\x0dtargetAppName\x0amethodName\x0dmethodArgSigs\x17targetServiceUniqueName\x0crequestProps'
  const s = samples[3].toString('latin1')
  t.true(s.includes(usual))
  const f = Buffer.from(s.replace(usual, other), 'latin1')
  t.is(f.length, samples[3].length)
  t.regex(check(f), /SofaRequest class definition/)
  // The gateway's own dialect check keeps accepting the usual one.
  t.is(check(samples[3]), '')
})

test('requests encoded by sofa-bolt-node pass, and the real decoder takes them', t => {
  for (const f of samples) {
    t.false(realThrows(f))
    t.is(check(f), '')
  }
})

test('truncated content, an unknown tag, a bad class index and a bad class name are refused', t => {
  const f = samples[0]
  const s = contentStart(f)
  t.not(checkHessianContent(f, 22, 22 + f.readInt16BE(14), s, f.length - 1), '')
  const bad = Buffer.from(f); bad[s] = 0xff
  t.not(check(bad), ''); t.true(realThrows(bad))
  // The instance's class index (after the definition) points past the definitions.
  const i = bad.indexOf(0x6f, s); const ref = Buffer.from(f); ref[i + 1] = 0x91
  t.not(check(ref), ''); t.true(realThrows(ref))
  const name = Buffer.from(f); name[s + 2] = 0x2d // '-' in the class name: not an identifier
  t.not(check(name), ''); t.true(realThrows(name))
})

test(`nesting deeper than ${MAX_DEPTH} is refused`, t => {
  // A non-SofaRequest class name makes the content one value: one-item lists inside lists.
  const nest = (k: number): Buffer => Buffer.concat([Buffer.from(Array.from({ length: k }, () => [0x56, 0x6e, 0x01]).flat()), Buffer.from([0x4e]), Buffer.alloc(k, 0x7a)])
  const deep = nest(MAX_DEPTH + 1)
  t.not(checkHessianContent(deep, 0, 0, 0, deep.length), '')
  const ok = nest(8)
  t.is(checkHessianContent(ok, 0, 0, 0, ok.length), '')
})

test('property: whenever the real decoder throws on a mutated request, the check refuses it (class cache cold and warm)', t => {
  const warm: ClassCache = new Map()
  warm.enableCompile = true
  for (const f of samples) protocol.decode(Buffer.from(f), { classCache: warm })
  let thrown = 0
  let refusedOk = 0
  fc.assert(fc.property(
    fc.integer({ min: 0, max: samples.length - 2 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 4 }),
    (which, edits) => {
      const f = Buffer.from(samples[which])
      const s = contentStart(f)
      let frame = f
      for (const [at, byte, kind] of edits) {
        const n = frame.length - s
        if (n <= 0) break
        const p = s + (at % n)
        if (kind === 0) frame[p] = byte
        else if (kind === 1) { frame = frame.subarray(0, p); frame = Buffer.from(frame); frame.writeInt32BE(frame.length - s, 18) } else {
          frame = Buffer.concat([frame.subarray(0, p), Buffer.from([byte]), frame.subarray(p)]); frame.writeInt32BE(frame.length - s, 18)
        }
      }
      const threw = realThrows(frame) || realThrows(frame, warm)
      const refused = check(frame) !== ''
      if (threw) thrown++
      if (!threw && refused) refusedOk++
      return !threw || refused
    }), { numRuns: 5000, seed: 42 })
  t.log(`${thrown} of 5000 mutations made the real decoder throw (all refused); ${refusedOk} refused that it took (stricter)`)
  t.pass()
})

/** A frame as the gateway's decoder hands it over (with its header view). */
function decoded (buf: Buffer): { f: BoltFrame, h: BoltHeaderView } {
  let got: BoltFrame | null = null
  new BoltDecoder({ onBoltFrame (x) { got = x }, onBoltCodecError (r) { throw new Error(r) } }).push(buf)
  if (got === null) throw new Error('no frame')
  const f: BoltFrame = got
  return { f, h: new BoltHeaderView(f.buf, f.headerStart, f.contentStart) }
}

test('a codec sofa-bolt-node has no decoder for is refused unless listed in passCodecs; protobuf needs its class and headers', t => {
  const raw = Buffer.from(samples[0]); raw[9] = 12 // v1: the codec byte
  t.true(realThrows(raw))
  const { f, h } = decoded(raw)
  t.regex(checkBoltContent(f, h, []), /serialization type 12/)
  t.is(checkBoltContent(f, h, [12]), '')
  // Protobuf with sofa-rpc-node's header map (no sofa_head_target_service): its decoder throws.
  const pb = Buffer.from(samples[0]); pb[9] = 11
  t.true(realThrows(pb))
  const p = decoded(pb)
  t.regex(checkBoltContent(p.f, p.h, []), /protobuf request without/)
  const withHeaders = decoded(withHeaderMap(pb, { sofa_head_target_service: 'com.isthmus.test.EchoService:1.0', sofa_head_method_name: 'echo' }))
  t.is(checkBoltContent(withHeaders.f, withHeaders.h, []), '')
})

test('a v2 switch byte is made to say what the frame carries (sofa-bolt-node reads a CRC exactly when it is 1)', t => {
  const noCrc = Buffer.from(boltRequest({ id: 9, service: 'a:1.0', method: 'echo', args: ['x'], version: 'v2' }))
  noCrc[11] = 0x01 // ver1 is 1: no CRC for the gateway and Java, a CRC for sofa-bolt-node
  t.true(realThrows(noCrc))
  normalizeSwitch(noCrc, false)
  t.is(noCrc[11], 0x00)
  t.false(realThrows(noCrc))
  const v1 = Buffer.from(samples[0]); normalizeSwitch(v1, false)
  t.true(v1.equals(samples[0]), 'v1 frames have no switch byte')
})

test('a SofaRequest definition whose field names are of another length is refused: it desyncs a provider whose class cache saw the usual one', t => {
  const a = samples[0]
  const s = a.toString('latin1')
  const i = s.indexOf('\x0dtargetAppName')
  const b = Buffer.from(s.slice(0, i) + '\x0ctargetAppNam' + s.slice(i + 14), 'latin1')
  b.writeInt32BE(b.length - contentStart(b), 18)
  const cache = new Map() as Map<string, unknown> & { enableCompile?: boolean }
  cache.enableCompile = true
  protocol.decode(Buffer.from(a), { classCache: cache })
  t.throws(() => protocol.decode(b, { classCache: cache }), undefined, 'the real decoder, its cache warm, fails on it')
  t.regex(check(b), /SofaRequest class definition/)
  t.is(check(a), '')
})
