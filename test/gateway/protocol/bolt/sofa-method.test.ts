/**
 * The lazy method reader against what peers really send: frames captured from sofa-rpc-node
 * through a raw upstream, frames sofa-bolt-node encodes (v1, v2, v2 + CRC), and a Java-shaped
 * SofaRequest (final Hessian 2, `targetAppName` first) encoded with hessian.js. Bounded: a
 * name past the scan window, another class, another codec or garbage read as ''.
 */
import test from 'ava'
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { BoltDecoder } from '../../../../gateway/protocol/bolt/decoder.js'
import type { BoltFrame } from '../../../../gateway/protocol/bolt/command.js'
import { METHOD_SCAN_BYTES, readMethodName, readSofaMethod } from '../../../../gateway/protocol/bolt/sofa-method.js'
import { encodeFrame } from '../../../../gateway/protocol/bolt/encoder.js'
import { encodeHeaderMap } from '../../../../gateway/protocol/bolt/header-view.js'
import { BoltCmd, BoltProto, BoltType, SOFA_REQUEST_CLASS } from '../../../../gateway/protocol/bolt/types.js'
import { requestFrame, type BoltVersion } from '../../../_helpers/bolt-frames.js'
import { startRawUpstream } from '../../../_peers/raw-bolt-upstream.js'
import { sofaClient, sofaConsumer } from '../../../_peers/sofa-rpc.js'

const require = createRequire(import.meta.url)
const hessian = require('hessian.js') as { encode (v: unknown, version: string): Buffer }

function decode (b: Buffer): BoltFrame {
  let out: BoltFrame | undefined
  new BoltDecoder({ onBoltFrame: (f) => { out = f }, onBoltCodecError: (r) => { throw new Error(r) } }).push(b)
  if (out === undefined) throw new Error('no frame')
  return out
}

/** A request frame around `content` (hessian2 codec, SofaRequest class, only a `service` header). */
function frameWith (content: Buffer, codec = 1): BoltFrame {
  return decode(encodeFrame({
    proto: BoltProto.V1, type: BoltType.REQUEST, cmd: BoltCmd.REQUEST, requestId: 9, codec, timeout: 1000,
    className: SOFA_REQUEST_CLASS, header: encodeHeaderMap(new Map([['service', 'com.x.Pay:1.0']])), content,
  }))
}

/** A SofaRequest as Java's hessian serializer lays it out (final Hessian 2, targetAppName first). */
function javaShaped (app: string | null, method: string): Buffer {
  const s = (v: string): unknown => ({ $class: 'java.lang.String', $: v })
  return hessian.encode({
    $class: 'com.alipay.sofa.rpc.core.request.SofaRequest',
    $: {
      targetAppName: app === null ? null : s(app),
      methodName: s(method),
      targetServiceUniqueName: s('com.x.Pay:1.0'),
      requestProps: { $class: 'java.util.HashMap', $: { k: 'v' } },
      methodArgSigs: { $class: '[java.lang.String', $: ['int'] },
    },
  }, '2.0')
}

test('frames sofa-rpc-node really sends (captured through a raw upstream): the method is read from the body', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, up.port)
  const calls: Array<[string, unknown[]]> = [['plus', [2, 3]], ['echo', ['hi']], ['InternalReset', []], ['a'.repeat(200), [{ $class: 'java.util.HashMap', $: { a: 1 } }]]]
  // The raw upstream answers 'pong' to each: only the request bytes matter here.
  await Promise.all(calls.map(async ([m, args]) => c.invoke(m, args).catch(() => {})))
  t.is(up.requests.length, calls.length)
  for (const f of up.requests) t.is(f.className(), SOFA_REQUEST_CLASS)
  t.deepEqual(up.requests.map(readSofaMethod).sort(), calls.map(([m]) => m).sort())
})

for (const v of ['v1', 'v2', 'v2crc'] as BoltVersion[]) {
  test(`sofa-bolt-node ${v} frames: the method is read, the args are not needed`, t => {
    t.is(readSofaMethod(decode(requestFrame({ id: 1, version: v, method: 'plus', args: [2, 3] }))), 'plus')
    t.is(readSofaMethod(decode(requestFrame({ id: 2, version: v, method: 'größe', args: ['x'.repeat(10_000)] }))), 'größe')
  })
}

test('a Java-shaped SofaRequest (final Hessian 2, targetAppName before methodName)', t => {
  t.is(readSofaMethod(frameWith(javaShaped('payments', 'pay'))), 'pay')
  t.is(readSofaMethod(frameWith(javaShaped(null, 'refund'))), 'refund')
})

test('bounded: a method past the scan window, truncated content, another class or codec: cannot be read', t => {
  t.is(readSofaMethod(frameWith(javaShaped('a'.repeat(METHOD_SCAN_BYTES), 'pay'))), '')
  const ok = javaShaped('payments', 'pay')
  const nameEnd = ok.indexOf('pay', ok.indexOf('payments') + 8) + 3
  for (let cut = 0; cut <= ok.length; cut++) t.is(readMethodName(ok, 0, cut), cut < nameEnd ? '' : 'pay', `cut at ${cut}`)
  const other = hessian.encode({ $class: 'com.x.Other', $: { methodName: { $class: 'java.lang.String', $: 'pay' } } }, '2.0')
  t.is(readSofaMethod(frameWith(other)), '')
  t.is(readSofaMethod(frameWith(ok, 11)), '') // protobuf: the method travels in the header
  // A field before methodName that is not a scalar (a map): not skipped, not guessed.
  const mapFirst = hessian.encode({ $class: 'com.alipay.sofa.rpc.core.request.SofaRequest', $: { requestProps: { $class: 'java.util.HashMap', $: { k: 'v' } }, methodName: { $class: 'java.lang.String', $: 'pay' } } }, '2.0')
  t.is(readSofaMethod(frameWith(mapFirst)), '')
})

test('property: random and mutated contents never throw and never read past the window', t => {
  const base = javaShaped('payments', 'pay')
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(base.length - 1), fc.nat(255), (bytes, at, v) => {
    const b = Buffer.from(base); b[at] = v
    const r1 = readMethodName(b, 0, b.length)
    const r2 = readMethodName(Buffer.from(bytes), 0, bytes.length)
    return typeof r1 === 'string' && typeof r2 === 'string'
  }), { numRuns: 5000 })
  // Nothing past `end` is read: a name that would end one byte past the window is refused.
  const b = javaShaped('payments', 'pay')
  const at = b.indexOf('pay', b.indexOf('payments') + 8)
  t.is(readMethodName(b, 0, at + 2), '')
  t.is(readMethodName(b, 0, at + 3), 'pay')
})
