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
