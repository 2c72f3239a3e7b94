import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { TLSSocket } from 'node:tls'
import { peerIdentityOfSocket } from '../../certs/identity.js'
import type { PeerIdentity } from '../call/identity.js'
import { LocalReply } from '../chain/local-reply.js'
import { BoltStatus } from '../errors.js'
import type { TripCell } from '../metrics.js'
import type { BoltFrame } from '../protocol/bolt/command.js'
import { decodeBoltCall } from '../protocol/bolt/decode.js'
import { BoltFrameReader } from '../protocol/bolt/frame-reader.js'
import { encodeGoAway, encodeHeartbeatAck } from '../protocol/bolt/encoder.js'
import { BoltHeaderView } from '../protocol/bolt/header-view.js'
import { errorResponseFrame, localReplyFrame } from '../protocol/bolt/mapping.js'
import { BoltCmd, BoltProto, BoltType, type BoltLimitsConfig } from '../protocol/bolt/types.js'
import { BoltCall, type BoltDownstream } from '../proxy/bolt-call.js'
import type { BoltConnection, BoltDrainWaiter } from '../upstream/bolt-connection.js'
import type { BoltPoolRegistry } from '../upstream/bolt-pool.js'
import { InflightCalls } from './bolt-inflight.js'
import { enterRead, leaveRead } from '../util/read-clock.js'
import { BoltPressure } from './bolt-pressure.js'
import type { BoltListener } from './bolt-listener.js'
import { ConnectionGuard } from './connection-guard.js'

/** How long a closing connection may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 1000
/** Requests that arrive after GoAway: retry elsewhere (SOFA clients fail over on THREADPOOL_BUSY). */
const DRAINING_REPLY = new LocalReply('ISTH_ERR_GATEWAY_DRAINING', 'this connection got GoAway; send new calls to another gateway')
/** The last frame a client that does not read its responses gets (if it ever reads). */
const SLOW_READER_REPLY = new LocalReply('ISTH_ERR_BOLT_SLOW_READER', 'more response bytes are waiting for this connection than maxBufferedBytesPerClient')

/** The connection's yes/no state, in the reader's `bits` (bits 0-3 are the reader's), and the
 *  last frame's protocol byte and ver1 (what GoAway is sent in). */
const enum Bit {
  GotData = 1 << 4, Closing = 1 << 5, LoggedContent = 1 << 6, Gone = 1 << 7, Corked = 1 << 8,
  WriteBlocked = 1 << 9, CapPaused = 1 << 10, FrameSeen = 1 << 11,
  VerShift = 12, ProtoShift = 20, ProtoVerMask = 0xffff << 12,
}

/**
 * One downstream Bolt connection: its own frame decoder, the response writer, the calls in
 * flight, and every bound on what the client can make the gateway hold (README "Limits").
 *
 * No timer of its own: the listener's deadline scan looks at `deadline` (the earliest bound
 * that applies now) and calls `onDeadline`, which re-checks them all: first byte
 * (`firstByteTimeoutMs` from accept; TLS: from the handshake), frame (a frame must complete
 * `frameTimeoutMs` after its first byte; more bytes do not move it), idle (`idleTimeoutMs`
 * with no complete frame and no call), write stall (responses wait and none was taken for
 * `writeStallMs`), close grace. While the gateway itself does not read the connection
 * (backpressure) the first-byte, frame and idle bounds do not run.
 *
 * Backpressure one way only: a full client socket stops its own reading; a client whose
 * waiting responses would pass `maxBufferedBytesPerClient` gets one last
 * ISTH_ERR_BOLT_SLOW_READER frame and is closed, its calls forgotten upstream; the upstream
 * connections it shares are never paused for it. A full upstream socket pauses the clients
 * feeding it until it drains (all resume together: none starves), and a client with
 * `maxInflightPerConnection` calls in flight is not read until some finish.
 *
 * Memory: thousands of these sit idle, so the connection is its own frame decoder (one
 * object), its yes/no state is one bit field, and what only a busy connection needs (the
 * in-flight list) is made on first use. Its listener scans it for deadlines (no Set of its own).
 */
export class BoltServerConnection extends BoltFrameReader implements BoltDownstream, BoltDrainWaiter {
  readonly listener: BoltListener
  readonly socket: Socket
  /** See `peer`; undefined until the first call asks (an idle connection never does). */
  #peer: PeerIdentity | null | undefined = undefined
  /** Next time the listener's scan should look at this connection (performance.now() ms). */
  deadline: number
  /** performance.now() of accept (until the first byte: the first-byte bound is measured from
   *  it), of the last complete frame or the end of the last call. */
  lastActiveAt: number
  /** When the frame now being received started arriving; 0 when none is partial. */
  frameStartedAt = 0
  /** Reasons not to read this socket: our own full write buffer, each full upstream we fed, the in-flight cap. */
  #readPauses = 0
  /** Made with the first call (an idle connection never has one). */
  #calls: InflightCalls | null = null
  /** Made when first under pressure (write stall, full upstream, closing). */
  #pressure: BoltPressure | null = null

  /** `ownClose`: listen to 'close' here (TLS: the listener's close listener is on the raw socket). */
  constructor (listener: BoltListener, socket: Socket, now: number, ownClose: boolean) {
    super()
    this.bits |= (BoltProto.V1 << Bit.ProtoShift) | (1 << Bit.VerShift)
    this.listener = listener
    this.socket = socket
    ;(socket as SocketWithConn)[CONN] = this
    this.lastActiveAt = now
    this.deadline = now + Math.min(listener.limits.firstByteTimeoutMs, listener.options.idleTimeoutMs)
    socket.setNoDelay(true)
    socket.on('data', onData)
    if (ownClose) socket.on('close', onConnectionClose)
    socket.on('drain', onDrain)
  }

  /** Verified mTLS identity of the peer (null on plain TCP or without a verified cert); once per connection, on first use. */
  get peer (): PeerIdentity | null {
    if (this.#peer === undefined) this.#peer = (this.socket as TLSSocket).encrypted === true ? peerIdentityOfSocket(this.socket as TLSSocket) : null
    return this.#peer
  }

  protected get frameLimits (): BoltLimitsConfig { return this.listener.limits }
  get pools (): BoltPoolRegistry { return this.listener.deps.pools }
  get gotData (): boolean { return (this.bits & Bit.GotData) !== 0 }
  /** A bad-content refusal was logged on this connection (one line per connection). */
  get loggedContent (): boolean { return (this.bits & Bit.LoggedContent) !== 0 }
  set loggedContent (v: boolean) { if (v) this.bits |= Bit.LoggedContent; else this.bits &= ~Bit.LoggedContent }
  private get closing (): boolean { return (this.bits & Bit.Closing) !== 0 }
  private get gone (): boolean { return (this.bits & Bit.Gone) !== 0 }
  private get writeBlocked (): boolean { return (this.bits & Bit.WriteBlocked) !== 0 }
  private get pressure (): BoltPressure { return (this.#pressure ??= new BoltPressure()) }

  /** A chunk from the socket (the catch boundary for anything a frame can reach). */
  handleData (chunk: Buffer): void {
    this.bits = (this.bits | Bit.GotData) & ~Bit.FrameSeen
    this.push(chunk)
    if (this.#readPauses > 0) return // no frame clock while the gateway is not reading
    if (this.buffered === 0) this.frameStartedAt = 0
    else if (this.frameStartedAt === 0 || (this.bits & Bit.FrameSeen) !== 0) this.startFrameClock()
  }

  private startFrameClock (): void {
    const at = performance.now()
    this.frameStartedAt = at
    const due = at + this.listener.limits.frameTimeoutMs
    if (due < this.deadline) this.deadline = due
  }

  onBoltFrame (frame: BoltFrame): void {
    this.bits = (this.bits & ~Bit.ProtoVerMask) | Bit.FrameSeen | ((frame.proto & 0xff) << Bit.ProtoShift) | ((frame.ver1 === 0 ? 1 : frame.ver1) << Bit.VerShift)
    if (frame.type === BoltType.RESPONSE) return // heartbeat acks or stray responses: nothing owed
    const cmd = frame.cmd
    if (cmd === BoltCmd.HEARTBEAT) { this.lastActiveAt = performance.now(); this.writeRaw(encodeHeartbeatAck(frame)); return }
    if (cmd === BoltCmd.GOAWAY) return
    if (cmd !== BoltCmd.REQUEST) {
      this.onBoltCodecError(`command code ${cmd} in a request`, frame.requestId, frame.proto, frame.ver1, frame.type)
      return
    }
    if (this.closing) return
    const l = this.listener
    let call: BoltCall | null = null
    try {
      const snap = l.deps.snapshot.current
      const headers = new BoltHeaderView(frame.buf, frame.headerStart, frame.contentStart)
      call = new BoltCall(frame, this, headers, this.remoteAddress, snap, l.logger)
      this.lastActiveAt = call.startedAt
      call.peer = this.peer
      decodeBoltCall(call, headers, frame, snap.boltReadsMethod)
      this.track(call)
      // After GoAway: refuse before any work, so in-flight calls drain and the client fails over.
      if (l.draining) call.refuse(DRAINING_REPLY)
      else call.start()
    } catch (err) {
      if (call !== null) { call.internalError(err); return }
      l.logger.error({ err, peer: this.remoteAddress }, 'bolt request failed before its call existed (internal error)')
      if (frame.type !== BoltType.ONEWAY) this.writeRaw(errorResponseFrame(frame, BoltStatus.SERVER_EXCEPTION, 'ISTH_ERR_INTERNAL: internal error'))
    }
  }

  checkContent (call: BoltCall): string { return this.listener.checkContent(this, call) }

  onBoltCodecError (reason: string, requestId: number, proto: number, ver1: number, type: number): void {
    const l = this.listener
    l.logger.warn({ peer: this.remoteAddress, requestId: requestId >= 0 ? requestId : undefined, reason }, 'bolt codec error, closing connection')
    if (requestId >= 0 && type !== BoltType.RESPONSE && !this.socket.destroyed) {
      this.socket.write(errorResponseFrame({ proto, ver1: proto === BoltProto.V2 ? (ver1 === 2 ? 2 : 1) : 0, switchByte: 0, requestId }, BoltStatus.CODEC_EXCEPTION, `ISTH_ERR_BOLT_CODEC: bad Bolt frame: ${reason}`))
    }
    this.end()
  }

  /** Called for a bug that escaped every call's own boundary: this connection goes, not the process. */
  crashed (err: unknown): void {
    this.listener.logger.error({ err, peer: this.remoteAddress }, 'bolt connection failed (internal error), closing it')
    this.socket.destroy()
  }

  // Calls in flight.

  get inflight (): number { return this.#calls?.size ?? 0 }

  private track (call: BoltCall): void {
    const calls = (this.#calls ??= new InflightCalls())
    calls.add(call)
    if (calls.size >= this.listener.limits.maxInflightPerConnection && (this.bits & Bit.CapPaused) === 0) {
      this.bits |= Bit.CapPaused
      this.listener.trips.inflight.n++
      this.pauseRead()
    }
  }

  onCallDone (call: BoltCall): void {
    if (this.#calls === null || !this.#calls.remove(call)) return
    const n = this.#calls.size
    if (n === 0 && call.endedAt > 0) this.lastActiveAt = call.endedAt
    // Resume with some room (3/4 of the cap), so a client at the cap is not paused per call.
    if ((this.bits & Bit.CapPaused) !== 0 && n <= (this.listener.limits.maxInflightPerConnection * 3) >>> 2) {
      this.bits &= ~Bit.CapPaused
      this.resumeRead()
    }
    if (this.closing && n === 0) this.end()
  }

  // Writing.

  writeFrame (buf: Buffer, call: BoltCall): boolean {
    const s = this.socket
    if (this.closing || s.destroyed || !s.writable) {
      if (call.status === -1) { call.status = BoltStatus.CONNECTION_CLOSED; call.message = 'client connection closed' }
      return false
    }
    // Bound what one client makes us hold: one frame always goes when nothing waits (a big
    // response is not refused for its size); past the cap the client is closed.
    const waiting = s.writableLength
    if (waiting > 0 && waiting + buf.length > this.listener.limits.maxBufferedBytesPerClient) {
      this.overflow(call)
      return false
    }
    this.write(buf)
    return true
  }

  /** Heartbeat acks and the like: small, not a call's; still counted against the cap. */
  private writeRaw (buf: Buffer): void {
    const s = this.socket
    if (this.closing || s.destroyed || !s.writable) return
    if (s.writableLength + buf.length > this.listener.limits.maxBufferedBytesPerClient) { this.overflow(null); return }
    this.write(buf)
  }

  private write (buf: Buffer): void {
    const s = this.socket
    // Responses that arrive in one upstream read leave in one writev.
    if ((this.bits & Bit.Corked) === 0) { this.bits |= Bit.Corked; s.cork(); process.nextTick(uncork, this) }
    const blocked = this.writeBlocked
    if (blocked) this.pressure.handed += buf.length
    if (s.write(buf) || blocked) return
    // Full: read no more requests from this client until it drains; a client that takes
    // nothing for writeStallMs is closed (onDeadline).
    this.bits |= Bit.WriteBlocked
    this.pauseRead()
    const now = performance.now()
    const p = this.pressure
    p.stallSince = now
    p.handed = s.writableLength
    p.mark = 0
    const due = now + this.listener.limits.writeStallMs
    if (due < this.deadline) this.deadline = due
  }

  /** Too many response bytes waiting: one last frame for `call`, then close and forget the rest. */
  private overflow (call: BoltCall | null): void {
    const l = this.listener
    l.trips.bufferedBytes.n++
    l.logger.warn({ peer: this.remoteAddress, buffered: this.socket.writableLength, limit: l.limits.maxBufferedBytesPerClient }, 'bolt client does not read its responses (maxBufferedBytesPerClient), closing')
    if (call !== null) {
      this.#calls?.remove(call)
      call.code = SLOW_READER_REPLY.code
      call.status = BoltStatus.SERVER_THREADPOOL_BUSY
      call.message = SLOW_READER_REPLY.message
      if (!call.frame.isOneway) {
        const f = call.frame
        this.socket.write(localReplyFrame(SLOW_READER_REPLY, { proto: f.proto, ver1: f.ver1, switchByte: f.switchByte, requestId: call.downstreamId }))
      }
    }
    this.abort()
  }

  /** Stop everything this client asked for, then close (flushing what is queued, within the grace). */
  private abort (): void {
    this.stopped = true
    this.#calls?.cancelAll()
    this.end()
  }

  uncork (): void { this.bits &= ~Bit.Corked; this.socket.uncork() }

  /** The peer's address: the one its listener's guard read on accept (shared by every
   *  connection from that source), kept after close for the logs. */
  get remoteAddress (): string { return ConnectionGuard.addressOf(this.socket) ?? this.socket.remoteAddress ?? '' }

  // Backpressure.

  waitUpstream (up: BoltConnection): void {
    if (up.closed || this.#pressure?.waitingOn?.includes(up) === true) return
    ;(this.pressure.waitingOn ??= []).push(up)
    up.waitDrain(this)
    this.pauseRead()
  }

  onUpstreamDrain (up: BoltConnection): void {
    const w = this.#pressure?.waitingOn
    const i = w?.indexOf(up) ?? -1
    if (i < 0) return
    ;(w as BoltConnection[]).splice(i, 1)
    this.resumeRead()
  }

  /** Our socket drained: read again. */
  handleDrain (): void {
    if (!this.writeBlocked) return
    this.bits &= ~Bit.WriteBlocked
    this.resumeRead()
  }

  // Pausing also holds the decoder, so frames already read wait too (a read can hold many).
  private pauseRead (): void {
    if (this.#readPauses++ !== 0) return
    this.socket.pause()
    this.hold()
  }

  private resumeRead (): void {
    if (--this.#readPauses !== 0 || this.gone) return
    this.release() // may deliver frames that pause us again
    if (this.#readPauses !== 0 || this.gone) return
    this.socket.resume()
    // The time we did not read is not the client's: a partial frame gets a fresh window, and
    // the idle clock starts again.
    this.lastActiveAt = performance.now()
    this.frameStartedAt = 0
    if (this.buffered > 0) this.startFrameClock()
  }

  // Lifecycle.

  /** Closed: forget what we asked upstream, release what we wait on. */
  handleClose (): void {
    this.bits |= Bit.Gone
    this.stopped = true
    this.deadline = Infinity
    if (this.#pressure !== null) this.#pressure.waitingOn = null
    this.#calls?.cancelAll()
    this.listener.onConnectionClosed(this)
  }

  goAway (): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeGoAway((this.bits >>> Bit.ProtoShift) & 0xff, (this.bits >>> Bit.VerShift) & 0xff))
  }

  /** Stop reading, flush, close; destroyed if the peer does not close within a grace period. */
  end (): void {
    const s = this.socket
    this.stopped = true
    if (s.destroyed) return
    if (!this.closing) {
      this.bits |= Bit.Closing
      this.deadline = this.pressure.closeBy = performance.now() + CLOSE_GRACE_MS
    }
    s.end()
  }

  /** The listener's scan found `deadline` passed: apply whichever bound tripped, else look
   *  again later. A connection closed here is not looked at again (deadline Infinity). */
  onDeadline (now: number): void {
    this.deadline = Infinity
    if (this.gone) return
    const l = this.listener
    const lim = l.limits
    let next = Infinity
    if (this.closing) {
      const by = this.pressure.closeBy
      if (now >= by) { this.socket.destroy(); return }
      next = by
    } else {
      if (this.writeBlocked) {
        const p = this.pressure
        const taken = p.handed - this.socket.writableLength // completed writes: a big writev counts when done
        if (taken > p.mark) { p.mark = taken; p.stallSince = now }
        next = p.stallSince + lim.writeStallMs
        if (now >= next) { this.trip(l.trips.writeStall, 'bolt client reads no responses (writeStallMs), closing'); return }
      }
      if (this.#readPauses === 0) {
        let due = Infinity
        if (!this.gotData) {
          due = this.lastActiveAt + lim.firstByteTimeoutMs // accept time until the first byte
          if (now >= due) { this.trip(l.trips.firstByte, 'bolt connection sent nothing (firstByteTimeoutMs), closing', true); return }
        } else if (this.frameStartedAt > 0) {
          due = this.frameStartedAt + lim.frameTimeoutMs
          if (now >= due) { this.trip(l.trips.frame, 'bolt partial frame not completed within frameTimeoutMs, closing'); return }
        }
        if (due < next) next = due
        due = this.inflight === 0 ? this.lastActiveAt + l.options.idleTimeoutMs : now + l.options.idleTimeoutMs
        if (now >= due) {
          // Fully idle (a live SOFA client sends heartbeats): free the socket.
          if (this.buffered > 0) this.trip(l.trips.idle, 'bolt connection idle with a partial frame, closing')
          else { l.trips.idle.n++; l.logger.debug({ peer: this.remoteAddress }, 'bolt connection idle, closing'); this.end() }
          return
        }
        if (due < next) next = due
      }
      // Not read by us right now: only the stall bound applies; look again later.
      if (next === Infinity) next = now + Math.min(lim.frameTimeoutMs, l.options.idleTimeoutMs)
    }
    this.deadline = next
  }

  /** Count the trip, log it (debug when `quiet`: port scanners and L4 checks are normal), close. */
  private trip (cell: TripCell, msg: string, quiet = false): void {
    cell.n++
    this.listener.logger[quiet ? 'debug' : 'warn']({ peer: this.remoteAddress, partial: this.buffered, waiting: this.socket.writableLength }, msg)
    this.socket.destroy()
  }
}

const CONN = Symbol('isthmus.boltServerConnection')
type SocketWithConn = Socket & { [CONN]: BoltServerConnection }

function onData (this: Socket, chunk: Buffer): void {
  const c = (this as SocketWithConn)[CONN]
  enterRead() // one clock read for every request of this read (util/read-clock.ts)
  try {
    c.handleData(chunk)
  } catch (err) {
    c.crashed(err)
  } finally {
    leaveRead()
  }
}
function onDrain (this: Socket): void { (this as SocketWithConn)[CONN].handleDrain() }
/** 'close' of a connection's socket (plain: the listener's own close listener calls it too). */
export function onConnectionClose (this: Socket): void { (this as Partial<SocketWithConn>)[CONN]?.handleClose() }
function uncork (c: BoltServerConnection): void { c.uncork() }
