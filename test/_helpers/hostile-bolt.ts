/** Bolt request frames for the hostile tests, encoded by sofa-bolt-node (an independent encoder). */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const protocol = require('sofa-bolt-node/lib/protocol') as {
  requestEncode (id: number, req: Record<string, unknown>, o: Record<string, unknown>): Buffer
}

export interface BoltRequestSpec {
  id: number
  service: string
  method: string
  args: unknown[]
  timeout?: number
  /** SofaRequest.targetAppName: encoded before methodName in the hessian content. */
  targetAppName?: string
  version?: 'v1' | 'v2'
}

/** A hessian2 SofaRequest frame as sofa-rpc-node sends it (method only in the content). */
export function boltRequest (s: BoltRequestSpec): Buffer {
  const o = s.version === 'v2' ? { protocolType: 'bolt2', codecType: 'hessian2', boltVersion: 1, crcEnable: false } : { protocolType: 'bolt', codecType: 'hessian2' }
  return Buffer.from(protocol.requestEncode(s.id, {
    serverSignature: s.service,
    methodName: s.method,
    targetAppName: s.targetAppName,
    args: s.args.map(a => ({ $class: typeof a === 'number' ? 'int' : 'java.lang.String', $: a })),
    timeout: s.timeout ?? 5000,
    oneway: false,
  }, o))
}

/** Bolt v1 responses in received bytes (PROTOCOLS.md offsets): request id and status of each; a partial tail is ignored. */
export function boltV1Responses (buf: Buffer): Array<{ requestId: number, status: number }> {
  const out: Array<{ requestId: number, status: number }> = []
  let i = 0
  while (i + 20 <= buf.length && buf[i] === 1) {
    const len = 20 + buf.readInt16BE(i + 12) + buf.readInt16BE(i + 14) + buf.readInt32BE(i + 16)
    if (i + len > buf.length) break
    out.push({ requestId: buf.readUInt32BE(i + 5), status: buf.readUInt16BE(i + 10) })
    i += len
  }
  return out
}

/**
 * The same SofaRequest frame with the hessian class definition's fields reordered so that
 * `targetAppName` (as large as you like) comes before `methodName`. sofa-rpc-node's server
 * decodes fields by name, so it runs the call as usual; a gateway that reads the method from
 * the content with a bound may not reach it (then it must refuse, never pass a method rule).
 */
export function boltRequestMethodLast (s: BoltRequestSpec & { targetAppName: string }): Buffer {
  const ByteBuffer = require('byte') as new (o: { size: number }) => { array (): Buffer }
  const { v3 } = require('sofa-hessian-node') as { v3: { Encoder: new (o: { size: number }) => HessianEncoder, compile (info: { type: string }, version: string, map: Record<string, unknown>): (v: unknown, e: HessianEncoder) => void } }
  const builtin = require('sofa-bolt-node/lib/codec/hessian/app_type/builtin_class_map') as Record<string, Record<string, unknown>>
  const d = builtin['com.alipay.sofa.rpc.core.request.SofaRequest']
  const map = { 'com.alipay.sofa.rpc.core.request.SofaRequest': { targetAppName: d.targetAppName, methodName: d.methodName, methodArgSigs: d.methodArgSigs, targetServiceUniqueName: d.targetServiceUniqueName, requestProps: d.requestProps } }
  const bb = new ByteBuffer({ size: 1024 })
  const enc = new v3.Encoder({ size: 1 })
  enc.byteBuffer = bb
  enc.reset()
  enc.byteBuffer = bb
  const args = s.args.map(a => ({ $class: typeof a === 'number' ? 'int' : 'java.lang.String', $: a }))
  v3.compile({ type: 'com.alipay.sofa.rpc.core.request.SofaRequest' }, '2.0', map)({
    targetAppName: s.targetAppName, methodName: s.method, methodArgSigs: args.map(a => a.$class), targetServiceUniqueName: s.service, requestProps: null,
  }, enc)
  for (const a of args) enc.write(a)
  const content = bb.array()
  // Frame head (fixed header, class name, header map) from sofa-bolt-node, then our content.
  const plain = boltRequest({ ...s, targetAppName: undefined })
  const head = Buffer.from(plain.subarray(0, 22 + plain.readInt16BE(14) + plain.readInt16BE(16)))
  head.writeInt32BE(content.length, 18)
  return Buffer.concat([head, content])
}
interface HessianEncoder { byteBuffer: unknown, reset (): void, write (v: unknown): void }
