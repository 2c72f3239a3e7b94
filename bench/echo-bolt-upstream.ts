/**
 * Bench upstream: answers every Bolt request with a fixed 128-byte-content response carrying
 * the request's id (v1 framing), heartbeats with an ack. Prints its port on stdout.
 */
import { createServer, type Socket, type AddressInfo } from 'node:net'
import { BoltDecoder } from '../gateway/protocol/bolt/decoder.js'
import type { BoltFrame } from '../gateway/protocol/bolt/command.js'
import { encodeFrame, encodeHeartbeatAck } from '../gateway/protocol/bolt/encoder.js'

const RESPONSE = encodeFrame({ proto: 1, type: 0, cmd: 2, requestId: 0, status: 0, className: 'com.alipay.sofa.rpc.core.response.SofaResponse', content: Buffer.alloc(128, 0x61) })

class Conn {
  out: Buffer[] = []
  scheduled = false
  constructor (readonly s: Socket) {}
  onBoltFrame (f: BoltFrame): void {
    if (f.type === 0) return
    if (f.cmd === 0) { this.s.write(encodeHeartbeatAck(f)); return }
    if (f.type === 2) return
    const b = Buffer.from(RESPONSE)
    b.writeUInt32BE(f.requestId, 5)
    this.out.push(b)
    if (!this.scheduled) { this.scheduled = true; setImmediate(flush, this) }
  }
  onBoltCodecError (): void { this.s.destroy() }
}
function flush (c: Conn): void { c.scheduled = false; const o = c.out; c.out = []; c.s.write(o.length === 1 ? o[0] : Buffer.concat(o)) }

const server = createServer({ noDelay: true }, (s) => {
  const c = new Conn(s)
  const d = new BoltDecoder(c)
  s.on('data', (chunk: Buffer) => d.push(chunk))
  s.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => { process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`) })
