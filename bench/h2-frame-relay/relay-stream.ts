/**
 * One relayed call: a client stream (downstream id) tied to an upstream stream (our id on the
 * upstream connection), and the frame handlers of both sides. Each direction is a Half: DATA
 * goes straight through while the destination's windows allow, otherwise it waits in the
 * Half's queue (bounded by the window we granted the source) until a WINDOW_UPDATE. The
 * source is credited back as its bytes leave the relay, so the relay never holds more than it
 * advertised, and never sends beyond what the destination advertised.
 */
import * as F from './frames.js'
import type { Conn, StreamHandlers } from './conn.js'
import { encodeLiterals, Scan } from './hpack.js'

const GRPC_UNAVAILABLE = 14
const GRPC_UNIMPLEMENTED = 12

export class Half {
  /** DATA payloads not yet sent (the destination's window is shut). */
  readonly q: Buffer[] = []
  qBytes = 0
  /** The destination's stream window. */
  win = 0
  /** What the source may still send on this stream (our window to it). */
  rwin = 0
  /** Bytes sent on but not yet credited back to the source's stream window. */
  credit = 0
  /** The source ended the stream (END_STREAM seen): send END_STREAM once the queue is out. */
  end = false
  /** Trailers to send (with END_STREAM) after the queue. */
  trailers: Buffer | null = null
  /** END_STREAM has been sent to the destination. */
  done = false
}

export interface Pool { attach (st: Stream): void }

export class Stream {
  up: Conn | null = null
  upId = 0
  readonly toUp = new Half()
  readonly toDown = new Half()
  /** The request header block while no upstream connection is ready. */
  req: Buffer | null = null
  respStarted = false
  released = false
  constructor (readonly down: Conn, readonly downId: number) {}
}

export type Router = (path: string | null) => Pool | null

/** The first free upstream connection takes the stream: forward its headers and queued DATA. */
export function openUpstream (st: Stream, up: Conn): void {
  if (st.released) return
  st.up = up
  st.upId = up.nextId
  up.nextId += 2
  up.streams.set(st.upId, st)
  const h = st.toUp
  h.win = up.peerInitialWindow
  const req = st.req!
  st.req = null
  const endNow = h.end && h.qBytes === 0 && h.trailers === null
  up.writeHeaders(st.upId, req, 0, req.length, endNow)
  if (endNow) h.done = true
  else pump(st, h)
}

/** Send up to `e - s` bytes of `b` as DATA within the windows; returns the bytes sent. */
function sendData (st: Stream, h: Half, b: Buffer, s: number, e: number, last: boolean): number {
  const toUp = h === st.toUp
  const dst = toUp ? st.up! : st.down
  const src = toUp ? st.down : st.up!
  const dsid = toUp ? st.upId : st.downId
  const start = s
  while (s < e) {
    const n = Math.min(e - s, dst.sendWindow, h.win, dst.peerMaxFrame)
    if (n <= 0) break
    const fin = last && s + n === e && h.end && h.trailers === null
    dst.out.header(n, F.DATA, fin ? F.END_STREAM : 0, dsid)
    dst.out.bytes(b, s, s + n)
    dst.sendWindow -= n
    h.win -= n
    s += n
    if (fin) h.done = true
  }
  const sent = s - start
  if (sent > 0) {
    dst.touch()
    src.credit(sent)
    h.credit += sent
    // No stream credit once the source has ended: it sends nothing more on this stream.
    if (!h.end && h.credit >= src.limits.streamWindow >>> 1) {
      src.out.header(4, F.WINDOW_UPDATE, 0, toUp ? st.downId : st.upId); src.out.u32(h.credit)
      h.rwin += h.credit
      h.credit = 0
      src.touch()
    }
  }
  return sent
}

/** Send what the windows allow from the queue, then END_STREAM / trailers if due. */
function pump (st: Stream, h: Half): void {
  const dst = h === st.toUp ? st.up : st.down
  if (dst === null || st.released) return
  while (h.q.length > 0) {
    const head = h.q[0]
    const sent = sendData(st, h, head, 0, head.length, h.q.length === 1)
    h.qBytes -= sent
    if (sent < head.length) {
      h.q[0] = head.subarray(sent)
      if (dst.sendWindow <= 0) dst.blocked.add(st)
      return
    }
    h.q.shift()
  }
  dst.blocked.delete(st)
  finish(st, h)
}

function finish (st: Stream, h: Half): void {
  if (!h.end || h.done) { maybeRelease(st); return }
  const dst = h === st.toUp ? st.up! : st.down
  const dsid = h === st.toUp ? st.upId : st.downId
  if (h.trailers !== null) dst.writeHeaders(dsid, h.trailers, 0, h.trailers.length, true)
  else { dst.out.header(0, F.DATA, F.END_STREAM, dsid); dst.touch() }
  h.trailers = null
  h.done = true
  maybeRelease(st)
}

/** DATA from a source: straight through when nothing is queued, else behind the queue. */
function forward (st: Stream, h: Half, b: Buffer, s: number, e: number, end: boolean): void {
  if (end) h.end = true
  const dst = h === st.toUp ? st.up : st.down
  if (dst !== null && h.qBytes === 0) {
    s += sendData(st, h, b, s, e, true)
    if (s === e) { if (end && !h.done) finish(st, h); else if (h.done) maybeRelease(st); return }
    if (dst.sendWindow <= 0) dst.blocked.add(st)
  }
  if (e <= s) return
  // A small remainder is copied: a queued slice would pin the whole 64 KiB read chunk.
  h.q.push(e - s < 2048 ? Buffer.from(b.subarray(s, e)) : b.subarray(s, e))
  h.qBytes += e - s
}

function maybeRelease (st: Stream): void {
  if (st.toUp.done && st.toDown.done) release(st)
}

function release (st: Stream): void {
  if (st.released) return
  st.released = true
  st.down.streams.delete(st.downId)
  st.down.blocked.delete(st)
  if (st.up !== null) { st.up.streams.delete(st.upId); st.up.blocked.delete(st); if (st.up.goingAway && st.up.streams.size === 0) st.up.socket.end() }
  st.toUp.q.length = 0
  st.toDown.q.length = 0
}

/** Answer the client with a gRPC status of our own (Trailers-Only, or trailers after a response). */
export function respondError (st: Stream, code: number, message: string): void {
  if (st.released) return
  const down = st.down
  const list = st.respStarted ? [] : [':status', '200', 'content-type', 'application/grpc']
  list.push('grpc-status', String(code), 'grpc-message', encodeURIComponent(message))
  if (!st.toDown.done && !down.dead) {
    const block = encodeLiterals(list)
    down.writeHeaders(st.downId, block, 0, block.length, true)
  }
  // The client may still be sending: tell it to stop (RFC 9113 8.1).
  if (!st.toUp.end && !down.dead) down.rstStream(st.downId, st.toDown.done ? F.CANCEL : F.NO_ERROR)
  if (st.up !== null && !st.up.dead && !(st.toUp.done && st.toDown.end)) st.up.rstStream(st.upId, F.CANCEL)
  release(st)
}

function blockOf (c: Conn, r: Scan, b: Buffer, e: number): Buffer {
  return r === Scan.Verbatim ? b.subarray(c.decoder.bodyStart, e) : encodeLiterals(c.decoder.list)
}

export const downHandlers: StreamHandlers = {
  headers (c, sid, flags, b, s, e) {
    const r = c.decoder.scan(b, s, e, true)
    if (r === Scan.Error) { c.fail(F.COMPRESSION_ERROR); return }
    const end = (flags & F.END_STREAM) !== 0
    const st = c.streams.get(sid)
    if (st !== undefined) { // request trailers
      if (!end || st.toUp.end) { respondError(st, 13, 'bad request trailers'); return }
      st.toUp.trailers = blockOf(c, r, b, e)
      st.toUp.end = true
      if (st.up !== null && st.toUp.qBytes === 0) finish(st, st.toUp)
      return
    }
    if ((sid & 1) === 0 || sid <= c.lastPeerId) { if (sid > c.lastPeerId) c.fail(F.PROTOCOL_ERROR); return }
    c.lastPeerId = sid
    if (c.goingAway || c.streams.size >= c.limits.maxStreams) { c.rstStream(sid, F.REFUSED_STREAM); return }
    const ns = new Stream(c, sid)
    ns.toDown.win = c.peerInitialWindow
    ns.toUp.rwin = c.limits.streamWindow
    ns.toDown.rwin = c.limits.streamWindow
    ns.toUp.end = end
    c.streams.set(sid, ns)
    const pool = c.router === null ? null : c.router(c.decoder.path)
    if (pool === null) { respondError(ns, GRPC_UNIMPLEMENTED, `no route for ${c.decoder.path ?? '(no :path)'}`); return }
    ns.req = blockOf(c, r, b, e)
    pool.attach(ns)
  },
  data (c, sid, flags, b, s, e) { onData(c, sid, flags, b, s, e, false) },
  rst (c, sid, code) {
    const st = c.streams.get(sid)
    if (st === undefined) return
    if (st.up !== null && !st.up.dead && !(st.toUp.done && st.toDown.end)) st.up.rstStream(st.upId, code)
    release(st)
  },
  goaway (c) { if (c.streams.size === 0) c.socket.end() },
  windowDelta (c, delta) { for (const st of c.streams.values()) { st.toDown.win += delta; if (delta > 0) pump(st, st.toDown) } },
  windowUpdate (c, sid, n) { onWindowUpdate(c, sid, n) },
  closed (c) {
    for (const st of [...c.streams.values()]) {
      if (st.up !== null && !st.up.dead && !(st.toUp.done && st.toDown.end)) st.up.rstStream(st.upId, F.CANCEL)
      release(st)
    }
  },
}

export const upHandlers: StreamHandlers = {
  headers (c, sid, flags, b, s, e) {
    const r = c.decoder.scan(b, s, e, false)
    if (r === Scan.Error) { c.fail(F.COMPRESSION_ERROR); return }
    const st = c.streams.get(sid)
    if (st === undefined) return
    const end = (flags & F.END_STREAM) !== 0
    const h = st.toDown
    if (!st.respStarted) {
      st.respStarted = true
      if (r === Scan.Verbatim) st.down.writeHeaders(st.downId, b, c.decoder.bodyStart, e, end)
      else { const blk = encodeLiterals(c.decoder.list); st.down.writeHeaders(st.downId, blk, 0, blk.length, end) }
      if (end) { h.end = true; h.done = true; maybeRelease(st) }
      return
    }
    if (!end || h.end) { c.rstStream(sid, F.PROTOCOL_ERROR); respondError(st, 13, 'upstream sent headers mid-stream'); return }
    h.end = true
    h.trailers = blockOf(c, r, b, e)
    if (h.qBytes === 0) finish(st, h)
  },
  data (c, sid, flags, b, s, e) { onData(c, sid, flags, b, s, e, true) },
  rst (c, sid, code) {
    const st = c.streams.get(sid)
    if (st === undefined) return
    // After a complete response, RST NO_ERROR still tells the client to stop sending.
    if (!st.down.dead && !(st.toDown.done && st.toUp.end)) st.down.rstStream(st.downId, code)
    release(st)
  },
  goaway (c, lastSid) {
    // Streams past lastSid were never seen upstream: the client may retry them elsewhere.
    for (const st of [...c.streams.values()]) if (st.upId > lastSid) { st.down.rstStream(st.downId, F.REFUSED_STREAM); release(st) }
    if (c.streams.size === 0) c.socket.end()
  },
  windowDelta (c, delta) { for (const st of c.streams.values()) { st.toUp.win += delta; if (delta > 0) pump(st, st.toUp) } },
  windowUpdate (c, sid, n) { onWindowUpdate(c, sid, n) },
  closed (c) {
    for (const st of [...c.streams.values()]) respondError(st, GRPC_UNAVAILABLE, 'upstream connection closed')
  },
}

function onData (c: Conn, sid: number, flags: number, b: Buffer, s: number, e: number, fromUp: boolean): void {
  const st = c.streams.get(sid)
  if (st === undefined) { c.credit(e - s); if (!fromUp && sid > c.lastPeerId) c.fail(F.PROTOCOL_ERROR); return }
  const h = fromUp ? st.toDown : st.toUp
  if (h.end) { c.credit(e - s); c.rstStream(sid, 0x5 /* STREAM_CLOSED */); return }
  h.rwin -= e - s
  if (h.rwin < 0) { c.credit(e - s); c.rstStream(sid, F.FLOW_CONTROL_ERROR); respondError(st, 8, 'flow control window exceeded'); return }
  forward(st, h, b, s, e, (flags & F.END_STREAM) !== 0)
}

function onWindowUpdate (c: Conn, sid: number, n: number): void {
  if (sid === 0) {
    for (const st of c.blocked) { pump(st, c.isUp ? st.toUp : st.toDown); if (c.sendWindow <= 0) break }
    return
  }
  const st = c.streams.get(sid)
  if (st === undefined) return
  const h = c.isUp ? st.toUp : st.toDown
  if (n === 0 || h.win + n > F.MAX_WINDOW) { c.rstStream(sid, F.FLOW_CONTROL_ERROR); respondError(st, 13, 'bad window update'); return }
  h.win += n
  pump(st, h)
}
