import type { Socket } from 'node:net'
import type { ConnSweep, Sweepable } from './conn-sweep.js'

/** The HTTP/2 connection preface (RFC 9113 3.4): h2c with prior knowledge starts with it. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

/** Where a connection goes once its first bytes arrived, and who counts a silent one. */
export interface FirstByteSink {
  /** The first chunk arrived; it is back in the socket (unshifted) and the socket is paused. */
  onFirstByte (socket: Socket, chunk: Buffer): void
  /** Nothing arrived before the deadline; the socket is destroyed after this. */
  onSilent (socket: Socket): void
  /** `onFirstByte` threw; the socket is destroyed after this. */
  onError (err: unknown): void
}

/** Sockets waiting now (not a property on each socket: it would stay on it for good). */
const waiting = new Map<Socket, FirstByteWait>()

class FirstByteWait implements Sweepable {
  readonly socket: Socket
  readonly deadline: number
  readonly sink: FirstByteSink
  done = false

  constructor (socket: Socket, deadline: number, sink: FirstByteSink) {
    this.socket = socket
    this.deadline = deadline
    this.sink = sink
  }

  sweep (now: number): boolean {
    if (this.done) return false
    const s = this.socket
    if (s.destroyed) { this.done = true; waiting.delete(s); return false }
    if (now < this.deadline) return true
    this.done = true
    waiting.delete(s)
    s.removeListener('data', onFirstData)
    this.sink.onSilent(s)
    s.destroy()
    return false
  }
}

/**
 * Wait for a connection's first bytes (plain: the sniff between h2c and HTTP/1.1; TLS: after
 * the handshake, so ALPN and a silent client are told apart), with an absolute deadline the
 * listener's sweep enforces. Trickling one byte is enough to pass here: what comes next is
 * bounded by the protocol's own deadlines (first stream, request headers).
 */
export function awaitFirstByte (socket: Socket, deadline: number, sink: FirstByteSink, sweep: ConnSweep): void {
  const w = new FirstByteWait(socket, deadline, sink)
  waiting.set(socket, w)
  socket.on('data', onFirstData)
  sweep.add(w)
}

/** The socket closed: forget its wait, if any (the sweep would too, but it may be stopped). */
export function forgetFirstByte (socket: Socket): void {
  const w = waiting.get(socket)
  if (w === undefined) return
  w.done = true
  waiting.delete(socket)
}

/** Does the chunk start like the HTTP/2 preface (as far as it goes)? */
export function isH2Preface (chunk: Buffer): boolean {
  const n = Math.min(chunk.length, H2_PREFACE.length)
  return chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n))
}

function onFirstData (this: Socket, chunk: Buffer): void {
  this.removeListener('data', onFirstData)
  const w = waiting.get(this)
  if (w === undefined) return
  waiting.delete(this)
  w.done = true
  this.pause()
  this.unshift(chunk)
  try {
    w.sink.onFirstByte(this, chunk)
  } catch (err) {
    w.sink.onError(err)
    this.destroy()
  }
}
