/**
 * Bolt frames for tests, crafted with sofa-bolt-node (an independent encoder), plus a tiny
 * raw client that collects responses by request id.
 */
import { createRequire } from 'node:module'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { BoltDecoder } from '../../gateway/protocol/bolt/decoder.js'
import type { BoltFrame } from '../../gateway/protocol/bolt/command.js'

const require = createRequire(import.meta.url)
const protocol = require('sofa-bolt-node/lib/protocol') as {
  requestEncode (id: number, req: Record<string, unknown>, o: Record<string, unknown>): Buffer
  responseEncode (id: number, res: Record<string, unknown>, o: Record<string, unknown>): Buffer
  heartbeatEncode (id: number, hb: Record<string, unknown>, o: Record<string, unknown>): Buffer
}
const mapSerializer = require('sofa-bolt-node/lib/simple_map_serializer') as { encode (m: Record<string, string>): Buffer }

export type BoltVersion = 'v1' | 'v2' | 'v2crc'

function opts (v: BoltVersion): Record<string, unknown> {
  if (v === 'v1') return { protocolType: 'bolt', codecType: 'hessian2' }
  return { protocolType: 'bolt2', codecType: 'hessian2', boltVersion: v === 'v2crc' ? 2 : 1, crcEnable: v === 'v2crc' }
}

export interface RequestSpec {
  id: number
  version?: BoltVersion
  service?: string
  method?: string
  args?: unknown[]
  timeout?: number
  oneway?: boolean
}

export function requestFrame (s: RequestSpec): Buffer {
  // sofa-bolt-node encodes into a shared buffer: copy it out.
  return Buffer.from(protocol.requestEncode(s.id, {
    serverSignature: s.service ?? 'com.isthmus.test.EchoService:1.0',
    methodName: s.method ?? 'echo',
    args: (s.args ?? ['hi']).map(a => ({ $class: typeof a === 'number' ? 'int' : 'java.lang.String', $: a })),
    timeout: s.timeout ?? 3000,
    oneway: s.oneway === true,
  }, opts(s.version ?? 'v1')))
}

export function heartbeatFrame (id: number, version: BoltVersion = 'v1'): Buffer {
  return Buffer.from(protocol.heartbeatEncode(id, { clientUrl: 'x' }, opts(version)))
}

export function responseFrame (id: number, value: unknown, version: BoltVersion = 'v1'): Buffer {
  return Buffer.from(protocol.responseEncode(id, { isError: false, appResponse: value }, opts(version)))
}

/** Replace a request frame's header map (as SimpleMapSerializer writes it), fixing lengths and CRC. */
export function withHeaderMap (frame: Buffer, headers: Record<string, string>): Buffer {
  const v2 = frame[0] === 2
  const fixed = v2 ? 24 : 22
  const classLen = frame.readInt16BE(fixed - 8)
  const headerLen = frame.readInt16BE(fixed - 6)
  const contentLen = frame.readInt32BE(fixed - 4)
  const crc = v2 && frame[1] === 2 && (frame[11] & 1) === 1
  const map = mapSerializer.encode(headers)
  const head = Buffer.from(frame.subarray(0, fixed + classLen))
  head.writeInt16BE(map.length, fixed - 6)
  const content = frame.subarray(fixed + classLen + headerLen, fixed + classLen + headerLen + contentLen)
  const body = Buffer.concat([head, map, content])
  if (!crc) return body
  const c = Buffer.alloc(4)
  c.writeUInt32BE(crc32(body))
  return Buffer.concat([body, c])
}

function crc32 (b: Buffer): number {
  let c = ~0
  for (let i = 0; i < b.length; i++) {
    c ^= b[i]
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1))
  }
  return ~c >>> 0
}

/** Decode sofa-bolt-node's view of a response frame: the value or the error message. */
export function readResponse (buf: Buffer): { id: number, type: string, value?: unknown, error?: string } {
  const ByteBuffer = require('byte') as { wrap (b: Buffer): { get (): number } }
  const io = ByteBuffer.wrap(buf)
  const proto = io.get()
  const codec = require(proto === 2 ? 'sofa-bolt-node/lib/protocol/v2' : 'sofa-bolt-node/lib/protocol/v1') as { decode (io: unknown, o: unknown): { packetId: number, packetType: string, data?: { appResponse?: unknown, error?: Error } } }
  const r = codec.decode(io, { sentReqs: new Map() })
  return { id: r.packetId, type: r.packetType, value: r.data?.appResponse, error: r.data?.error?.message }
}

/** A raw Bolt client: writes bytes, collects decoded frames, knows when the server closed. */
export class RawBoltClient {
  readonly socket: Socket
  readonly frames: BoltFrame[] = []
  closed = false
  #waiters: Array<() => void> = []

  constructor (port: number) {
    this.socket = connect({ port, host: '127.0.0.1' })
    const decoder = new BoltDecoder({
      onBoltFrame: (f) => { this.frames.push(f); this.#wake() },
      onBoltCodecError: () => { this.socket.destroy() },
    })
    this.socket.on('data', (c: Buffer) => { decoder.push(c) })
    this.socket.on('error', () => {})
    this.socket.on('close', () => { this.closed = true; this.#wake() })
  }

  async ready (): Promise<void> { if (this.socket.connecting) await once(this.socket, 'connect') }

  write (b: Buffer): void { this.socket.write(b) }

  #wake (): void { const w = this.#waiters; this.#waiters = []; for (const f of w) f() }

  /** Wait until `pred` holds (checked on every frame and on close), or reject after `ms`. */
  async until (pred: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms
    while (!pred()) {
      if (Date.now() > end) throw new Error('timed out waiting')
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(50, Math.max(1, end - Date.now())))
        this.#waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
  }

  byId (id: number): BoltFrame | undefined { return this.frames.find(f => f.requestId === id) }

  close (): void { this.socket.destroy() }
}
