import test from 'ava'
import fc from 'fast-check'
import { BoltDecoder, type BoltFrameSink } from '../../../../gateway/protocol/bolt/decoder.js'
import type { BoltFrame } from '../../../../gateway/protocol/bolt/command.js'
import { encodeFrame, patchRequestId } from '../../../../gateway/protocol/bolt/encoder.js'
import { encodeHeaderMap, decodeHeaderMap, BoltHeaderView } from '../../../../gateway/protocol/bolt/header-view.js'
import { DEFAULT_BOLT_LIMITS } from '../../../../gateway/protocol/bolt/types.js'
import { requestFrame, readResponse } from '../../../_helpers/bolt-frames.js'

class Sink implements BoltFrameSink {
  frames: BoltFrame[] = []
  errors: Array<{ reason: string, id: number }> = []
  onBoltFrame (f: BoltFrame): void { this.frames.push(f) }
  onBoltCodecError (reason: string, id: number): void { this.errors.push({ reason, id }) }
}

test('a frame split at every byte boundary decodes the same', t => {
  const f = requestFrame({ id: 77, version: 'v2crc', args: ['x'.repeat(300)] })
  for (let cut = 1; cut < f.length; cut += 7) {
    const s = new Sink()
    const d = new BoltDecoder(s)
    d.push(f.subarray(0, cut)); d.push(f.subarray(cut))
    t.is(s.frames.length, 1)
    t.true(s.frames[0].buf.equals(f))
    t.is(s.frames[0].requestId, 77)
  }
})

test('frames arriving whole are slices of the read (no copy); pipelined frames in order', t => {
  const a = requestFrame({ id: 1 }); const b = requestFrame({ id: 2, version: 'v2' })
  const chunk = Buffer.concat([a, b])
  const s = new Sink()
  new BoltDecoder(s).push(chunk)
  t.deepEqual(s.frames.map(f => f.requestId), [1, 2])
  t.is(s.frames[0].buf.buffer, chunk.buffer)
  t.is(s.frames[1].buf.byteOffset, chunk.byteOffset + a.length)
})

test('limits: class name, header bytes and frame size rejected from the fixed header', t => {
  for (const [lim, mut] of [
    [{ maxClassNameBytes: 8 }, (b: Buffer) => b],
    [{ maxHeaderBytes: 4 }, (b: Buffer) => b],
    [{ maxFrameBytes: 64 }, (b: Buffer) => b],
  ] as const) {
    const s = new Sink()
    new BoltDecoder(s, { ...DEFAULT_BOLT_LIMITS, ...lim }).push(mut(requestFrame({ id: 5 })))
    t.is(s.frames.length, 0)
    t.is(s.errors.length, 1)
    t.is(s.errors[0].id, 5)
  }
})

test('header map entry limit', t => {
  const m = new Map<string, string>(); for (let i = 0; i < 10; i++) m.set('k' + i, 'v')
  const f = encodeFrame({ proto: 1, type: 1, cmd: 1, requestId: 3, header: encodeHeaderMap(m) })
  const s = new Sink()
  new BoltDecoder(s, { ...DEFAULT_BOLT_LIMITS, maxHeaderEntries: 5 }).push(f)
  t.is(s.errors[0].reason, 'too many header map entries')
})

test('patchRequestId keeps the CRC valid (sofa-bolt-node verifies it)', t => {
  const f = encodeFrame({ proto: 2, ver1: 2, switchByte: 1, type: 0, cmd: 2, requestId: 1, status: 0 })
  patchRequestId(f, 0xdeadbeef, true)
  const s = new Sink(); new BoltDecoder(s).push(f)
  t.is(s.frames[0].requestId, 0xdeadbeef)
  t.is(s.errors.length, 0)
})

test('header view reads without materialising; set marks changed and re-encodes', t => {
  const m = new Map([['service', 'a.B:1.0'], ['sofa_head_method_name', 'm'], ['ü', 'é']])
  const raw = encodeHeaderMap(m)
  const v = new BoltHeaderView(raw, 0, raw.length)
  t.is(v.get('service'), 'a.B:1.0')
  t.is(v.get('ü'), 'é')
  t.is(v.get('missing'), undefined)
  t.false(v.changed)
  t.is(v.encode().buffer, raw.buffer) // unchanged: a view of the original bytes
  v.set('x', 'y'); v.delete('sofa_head_method_name')
  t.true(v.changed)
  t.deepEqual([...decodeHeaderMap(v.encode())], [['service', 'a.B:1.0'], ['ü', 'é'], ['x', 'y']])
})

const frameArb = fc.record({
  proto: fc.constantFrom(1, 2), crc: fc.boolean(), type: fc.constantFrom(0, 1, 2), cmd: fc.constantFrom(0, 1, 2, 100),
  requestId: fc.nat({ max: 0xffffffff }), timeout: fc.nat({ max: 100000 }), status: fc.nat({ max: 0x12 }),
  className: fc.string({ maxLength: 40 }).map(s => s.replace(/[^\x20-\x7e]/g, 'a')),
  headers: fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), { maxLength: 8 }),
  content: fc.uint8Array({ maxLength: 200 }),
})

test('property: encode -> decode round-trips', t => {
  fc.assert(fc.property(frameArb, (f) => {
    const header = encodeHeaderMap(new Map(f.headers))
    const buf = encodeFrame({ proto: f.proto, ver1: f.crc ? 2 : 1, switchByte: f.crc ? 1 : 0, type: f.type, cmd: f.cmd, requestId: f.requestId, timeout: f.timeout, status: f.status, className: f.className, header, content: Buffer.from(f.content) })
    const s = new Sink(); new BoltDecoder(s).push(buf)
    if (s.frames.length !== 1 || s.errors.length !== 0) return false
    const d = s.frames[0]
    return d.requestId === f.requestId && d.type === f.type && d.cmd === f.cmd && d.className() === f.className &&
      d.content().equals(Buffer.from(f.content)) && d.headerBytes().equals(header) &&
      (f.type === 0 ? d.status === f.status : d.timeout === f.timeout) && d.hasCrc === (f.proto === 2 && f.crc)
  }), { numRuns: 500 })
  t.pass()
})

test('property: random and mutated byte streams never throw out of the decoder', t => {
  const valid = Buffer.concat([requestFrame({ id: 1 }), requestFrame({ id: 2, version: 'v2crc' })])
  fc.assert(fc.property(
    fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map(a => Buffer.from(a)),
      fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.nat({ max: 255 })), { maxLength: 6 }).map(muts => {
        const b = Buffer.from(valid); for (const [i, v] of muts) b[i] = v; return b
      }),
    ),
    fc.array(fc.nat({ max: 400 }), { maxLength: 5 }),
    (bytes, cuts) => {
      const s = new Sink()
      const d = new BoltDecoder(s, { ...DEFAULT_BOLT_LIMITS, maxFrameBytes: 4096 })
      let at = 0
      for (const c of [...cuts].sort((a, b) => a - b)) { d.push(bytes.subarray(at, Math.max(at, c))); at = Math.max(at, c) }
      d.push(bytes.subarray(at))
      for (const f of s.frames) { f.className(); new BoltHeaderView(f.buf, f.headerStart, f.contentStart).entries() }
      return s.errors.length <= 1
    },
  ), { numRuns: 2000 })
  t.pass()
})

test('sofa-bolt-node reads what our encoder writes', t => {
  const f = encodeFrame({ proto: 1, type: 0, cmd: 0, requestId: 9 })
  t.is(readResponse(f).type, 'heartbeat_ack')
})

test('hold() stops delivery at the next frame boundary, even inside one read; release() delivers the rest in order', t => {
  const frames = [1, 2, 3, 4, 5].map(id => requestFrame({ id }))
  const chunk = Buffer.concat(frames)
  const got: number[] = []
  const d: BoltDecoder = new BoltDecoder({
    onBoltFrame (f) { got.push(f.requestId); if (f.requestId === 2) d.hold() },
    onBoltCodecError (r) { t.fail(r) },
  })
  // The read ends inside frame 5: the partial frame waits too.
  d.push(chunk.subarray(0, chunk.length - 10))
  t.deepEqual(got, [1, 2])
  t.true(d.held)
  t.true(d.buffered > 0)
  d.push(chunk.subarray(chunk.length - 10)) // a read that arrives while held is kept, not decoded
  t.deepEqual(got, [1, 2])
  d.release()
  t.deepEqual(got, [1, 2, 3, 4, 5])
  t.is(d.buffered, 0)
  // Holding again from inside release() stops there; a second release() goes on.
  const got2: number[] = []
  const d2: BoltDecoder = new BoltDecoder({
    onBoltFrame (f) { got2.push(f.requestId); if (f.requestId % 2 === 1) d2.hold() },
    onBoltCodecError (r) { t.fail(r) },
  })
  d2.push(chunk)
  t.deepEqual(got2, [1])
  d2.release(); t.deepEqual(got2, [1, 2, 3])
  d2.release(); t.deepEqual(got2, [1, 2, 3, 4, 5])
  d2.release(); t.deepEqual(got2, [1, 2, 3, 4, 5])
})
