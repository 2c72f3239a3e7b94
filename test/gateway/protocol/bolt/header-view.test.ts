import test from 'ava'
import fc from 'fast-check'
import { BoltDecoder } from '../../../../gateway/protocol/bolt/decoder.js'
import { encodeFrame, reencodeWithHeaders } from '../../../../gateway/protocol/bolt/encoder.js'
import { BoltHeaderView, HeaderKeySet, decodeHeaderMap, encodeHeaderMap } from '../../../../gateway/protocol/bolt/header-view.js'
import type { BoltFrame } from '../../../../gateway/protocol/bolt/command.js'

/** A raw map as Java may write it: a null value (-1) and a key written twice. */
function javaStyleMap (): Buffer {
  const parts: Buffer[] = []
  const str = (s: string | null): void => {
    const len = Buffer.alloc(4)
    if (s === null) { len.writeInt32BE(-1); parts.push(len); return }
    const b = Buffer.from(s, 'utf8'); len.writeInt32BE(b.length); parts.push(len, b)
  }
  str('service'); str('a.B:1.0')
  str('rpc_trace_context.sofaPenAttrs'); str(null)
  str('dup'); str('1')
  str('dup'); str('2')
  return Buffer.concat(parts)
}

test('adding a new key keeps the raw map byte for byte and appends the pair', t => {
  const raw = javaStyleMap()
  const v = new BoltHeaderView(raw, 0, raw.length)
  v.set('x-isthmus-entity', 'acme')
  v.set('ü-key', 'välue')
  t.true(v.changed)
  const out = v.encode()
  t.is(out.length, v.encodedLength())
  t.true(out.subarray(0, raw.length).equals(raw), 'the original pairs are untouched (null value and duplicate kept)')
  t.deepEqual([...decodeHeaderMap(out, raw.length)], [['x-isthmus-entity', 'acme'], ['ü-key', 'välue']])
  t.is(v.get('x-isthmus-entity'), 'acme')
  t.is(v.get('ü-key'), 'välue')
  t.is(v.get('service'), 'a.B:1.0')
})

test('setting an added key again replaces it in place; deleting it removes it', t => {
  const raw = encodeHeaderMap(new Map([['service', 'a.B:1.0']]))
  const v = new BoltHeaderView(raw, 0, raw.length)
  v.set('x', '1'); v.set('x', '2'); v.set('y', '3'); v.delete('x')
  t.deepEqual([...decodeHeaderMap(v.encode())], [['service', 'a.B:1.0'], ['y', '3']])
  t.deepEqual(v.entries(), [['service', 'a.B:1.0'], ['y', '3']])
  t.is(v.get('x'), undefined)
})

test('replacing or deleting a key of the raw map rebuilds it', t => {
  const raw = encodeHeaderMap(new Map([['service', 'a.B:1.0'], ['k', 'old'], ['z', 'z']]))
  const v = new BoltHeaderView(raw, 0, raw.length)
  v.set('added', 'a')
  v.set('k', 'new')
  t.deepEqual([...decodeHeaderMap(v.encode())], [['service', 'a.B:1.0'], ['k', 'new'], ['z', 'z'], ['added', 'a']])
  v.delete('z')
  t.deepEqual([...decodeHeaderMap(v.encode())], [['service', 'a.B:1.0'], ['k', 'new'], ['added', 'a']])
  t.is(v.encode().length, v.encodedLength())
  const w = new BoltHeaderView(raw, 0, raw.length)
  w.delete('missing')
  t.false(w.changed)
})

test('reencodeWithHeaders writes the edited map into the frame; class, content and CRC stay right', t => {
  for (const v2crc of [false, true]) {
    const header = encodeHeaderMap(new Map([['service', 'a.B:1.0']]))
    const content = Buffer.from('hessian-bytes')
    const buf = encodeFrame({ proto: v2crc ? 2 : 1, ver1: v2crc ? 2 : 1, switchByte: v2crc ? 1 : 0, type: 1, cmd: 1, requestId: 7, timeout: 3000, className: 'com.alipay.sofa.rpc.core.request.SofaRequest', header, content })
    const frames: BoltFrame[] = []
    new BoltDecoder({ onBoltFrame (f) { frames.push(f) }, onBoltCodecError () { t.fail() } }).push(buf)
    const view = new BoltHeaderView(frames[0].buf, frames[0].headerStart, frames[0].contentStart)
    view.set('x-isthmus-entity', 'acme')
    const out = reencodeWithHeaders(frames[0], view, view.encodedLength(), 99)
    const got: BoltFrame[] = []
    const errors: string[] = []
    new BoltDecoder({ onBoltFrame (f) { got.push(f) }, onBoltCodecError (r) { errors.push(r) } }).push(out)
    t.deepEqual(errors, [])
    t.is(got[0].requestId, 99)
    t.is(got[0].className(), 'com.alipay.sofa.rpc.core.request.SofaRequest')
    t.true(got[0].content().equals(content))
    t.deepEqual([...decodeHeaderMap(got[0].headerBytes())], [['service', 'a.B:1.0'], ['x-isthmus-entity', 'acme']])
  }
})

test('property: any sequence of set/delete gives the same map as a Map would', t => {
  const key = fc.constantFrom('a', 'b', 'service', 'ü', 'x-long-key-' + 'k'.repeat(70))
  const op = fc.oneof(fc.tuple(fc.constant('set'), key, fc.string({ maxLength: 80 })), fc.tuple(fc.constant('delete'), key, fc.constant('')))
  fc.assert(fc.property(fc.array(fc.tuple(key, fc.string({ maxLength: 10 })), { maxLength: 5 }), fc.array(op, { maxLength: 10 }), (init, ops) => {
    const model = new Map(init)
    const raw = encodeHeaderMap(model)
    const v = new BoltHeaderView(raw, 0, raw.length)
    for (const [o, k, val] of ops) {
      if (o === 'set') { model.set(k, val); v.set(k, val) } else { model.delete(k); v.delete(k) }
    }
    const out = v.encode()
    if (out.length !== v.encodedLength()) return false
    const got = decodeHeaderMap(out)
    if (got.size !== model.size) return false
    for (const [k, val] of model) if (got.get(k) !== val || v.get(k) !== val) return false
    return true
  }))
  t.pass()
})

test('getMany reads what get reads, in one walk: first of a repeated key, a null value as absent, the same string again for the same bytes', t => {
  const raw = javaStyleMap()
  const keys = new HeaderKeySet(['dup', 'rpc_trace_context.sofaPenAttrs', 'service', 'absent'])
  const out: Array<string | undefined> = []
  const v = new BoltHeaderView(raw, 0, raw.length)
  v.getMany(keys, out)
  t.deepEqual(out, [v.get('dup'), v.get('rpc_trace_context.sofaPenAttrs'), v.get('service'), v.get('absent')])
  t.deepEqual(out, ['1', undefined, 'a.B:1.0', undefined])
  // Another map with another service value: not the remembered string.
  const other = encodeHeaderMap(new Map([['service', 'a.B:2.0'], ['dup', '1']]))
  new BoltHeaderView(other, 0, other.length).getMany(keys, out)
  t.deepEqual(out, ['1', undefined, 'a.B:2.0', undefined])
  // Edited views answer from their edits.
  v.set('service', 'c.D:1.0')
  v.delete('dup')
  v.getMany(keys, out)
  t.deepEqual(out, [undefined, undefined, 'c.D:1.0', undefined])
})

test('getMany agrees with get on arbitrary maps', t => {
  const names = ['service', 'sofa_head_target_service', 'sofa_head_method_name']
  const keys = new HeaderKeySet(names)
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.constantFrom(...names, 'x', 'servicf', 'ü'), fc.option(fc.constantFrom('', 'a', 'a.B:1.0', 'ä', 'a.B:1.1'))), { maxLength: 8 }),
    pairs => {
      const parts: Buffer[] = []
      for (const [k, val] of pairs) {
        const kb = Buffer.from(k, 'utf8'); const kl = Buffer.alloc(4); kl.writeInt32BE(kb.length); parts.push(kl, kb)
        const vl = Buffer.alloc(4)
        if (val === null) { vl.writeInt32BE(-1); parts.push(vl) } else { const vb = Buffer.from(val, 'utf8'); vl.writeInt32BE(vb.length); parts.push(vl, vb) }
      }
      const raw = Buffer.concat(parts)
      const v = new BoltHeaderView(raw, 0, raw.length)
      const out: Array<string | undefined> = []
      v.getMany(keys, out)
      t.deepEqual(out, names.map(n => v.get(n)))
    },
  ), { numRuns: 300 })
})
