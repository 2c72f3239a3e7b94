import { now as clock } from '../util/read-clock.js'
import type { Logger } from 'pino'
import { LocalReply, localReplyFor } from '../chain/local-reply.js'
import { Phase } from '../call/phase.js'
import type { Snapshot } from '../config/snapshot.js'
import { BoltStatus } from '../errors.js'
import { callMetrics } from '../metrics.js'
import type { BoltFrame } from '../protocol/bolt/command.js'
import { normalizeSwitch, patchRequestId, patchTimeout, reencodeWithHeaders } from '../protocol/bolt/encoder.js'
import { BoltHeaderView } from '../protocol/bolt/header-view.js'
import { localReplyFrame } from '../protocol/bolt/mapping.js'
import { UpstreamFailure, type BoltConnection, type BoltExchange } from '../upstream/bolt-connection.js'
import type { BoltPoolRegistry } from '../upstream/bolt-pool.js'
import { ProxiedCall } from './proxied-call.js'
import { openBoltSide } from './bolt-side.js'
import { tapRequestData, tapRequestEnd, tapResponseData } from './taps.js'
import type { SideRefusal, SideRequest, SideSpec } from '../call/side.js'

/** The downstream side of a Bolt call: where its response goes. */
export interface BoltDownstream {
  /**
   * Write the response frame of `call`. False when it was not written (the connection is
   * gone, or it was just closed for not reading its responses; then the connection has set
   * the call's outcome). Never pauses anything upstream: a shared upstream connection keeps
   * being read whatever one client does.
   */
  writeFrame (buf: Buffer, call: BoltCall): boolean
  /** Backpressure: `up` took a request with its buffer full; stop reading until it drains. */
  waitUpstream (up: BoltConnection): void
  /** The call is over (in-flight and drain accounting). Idempotent. */
  onCallDone (call: BoltCall): void
  readonly pools: BoltPoolRegistry
  /** Why the call's content must not go upstream ('' when it may); BoltCall asks once. */
  checkContent (call: BoltCall): string
}

const TIMEOUT_REPLY = new LocalReply('ISTH_ERR_UPSTREAM_TIMEOUT', 'no response before the deadline')
const RESET_REPLY = new LocalReply('ISTH_ERR_UPSTREAM_RESET', 'connection closed before the response')
const CONNECT_REPLY = new LocalReply('ISTH_ERR_UPSTREAM_CONNECT', 'cannot connect to the upstream host')
const DEADLINE_REPLY = new LocalReply('ISTH_ERR_DEADLINE_EXCEEDED', 'no time left to call the upstream')
const HEADER_TOO_LARGE = new LocalReply('ISTH_ERR_FILTER_FAILED', 'headers', 'header map grew over 32767 bytes after filters')
const INTERNAL_REPLY = new LocalReply('ISTH_ERR_INTERNAL', 'internal error')
const FAILURE_REPLIES = [TIMEOUT_REPLY, RESET_REPLY, CONNECT_REPLY]
const BOLT_METRICS = callMetrics('bolt')

/**
 * A connect failure says why (refused, timed out, TLS peer identity not the expected one),
 * so the SOFA client shows the cause; one reply per (host, reason), not per call.
 */
function connectReply (hostId: string, reason: string): LocalReply {
  return reason === '' ? CONNECT_REPLY : localReplyFor('ISTH_ERR_UPSTREAM_CONNECT', `${hostId}: ${reason}`)
}

/**
 * One Bolt request through the gateway. The request frame is forwarded raw: only the
 * request id (gateway-side, per upstream connection) and, when time was spent here, the
 * timeout field are patched, and the CRC recomputed. A filter that changed headers makes us
 * re-encode the header map. The response is patched back to the downstream id the same way.
 *
 * Every entry from the wire (start, the upstream's response or failure, an async filter's
 * resume) runs inside a catch boundary: a bug answers ISTH_ERR_INTERNAL once, logs once, and
 * releases the upstream slot. Host health (cluster/outlier.ts): a response's status is an
 * outcome; a lost connection or failed connect is one failure (the pool counts it); a timeout
 * is none (a slow host is not a dead one, and the deadline may be the caller's own), nor is a
 * call the client abandoned (`cancel`). Retries (route `retry`) resend the frame elsewhere.
 */
export class BoltCall extends ProxiedCall implements BoltExchange {
  readonly frame: BoltFrame
  readonly downstream: BoltDownstream
  readonly downstreamId: number
  upstream: BoltConnection | null
  upstreamId: number
  response: BoltFrame | null
  /** A frame for this call went to the downstream (never answer twice). */
  answered: boolean
  /** Links of the downstream connection's in-flight list (no Map per connection or call). */
  prevOnConn: BoltCall | null
  nextOnConn: BoltCall | null
  listed: boolean
  /** The request is on `upstream`, counted in host.active (exactly one release). */
  #onUpstream: boolean
  #internalLogged: boolean
  /** contentFault's answer once asked; null before. */
  #fault: string | null

  constructor (frame: BoltFrame, downstream: BoltDownstream, headers: BoltHeaderView, remoteAddress: string, snapshot: Snapshot, logger: Logger) {
    super('bolt', 'bolt', headers, remoteAddress, snapshot, logger)
    this.frame = frame
    this.downstream = downstream
    this.downstreamId = frame.requestId
    this.upstream = null
    this.upstreamId = 0
    this.response = null
    this.answered = false
    this.prevOnConn = null
    this.nextOnConn = null
    this.listed = false
    this.#onUpstream = false
    this.#internalLogged = false
    this.#fault = null
    this.bytesIn = frame.buf.length
    if (frame.timeout > 0) this.deadline = this.startedAt + frame.timeout
  }

  protected override canTap (): boolean { return true }

  override openSide (spec: SideSpec): SideRequest | SideRefusal { return openBoltSide(this, spec) }

  /** Why this request must not go to any upstream ('' when it may): checked once, on first need. */
  contentFault (): string {
    if (this.#fault === null) this.#fault = this.downstream.checkContent(this)
    return this.#fault
  }

  protected forward (): void {
    try {
      const bad = this.contentFault()
      if (bad !== '') { this.fail(new LocalReply('ISTH_ERR_BOLT_BAD_CONTENT', bad)); return }
      this.#forward()
    } catch (err) {
      this.internalError(err)
    }
  }

  #forward (): void {
    const host = this.host!
    const cluster = this.cluster!
    const pool = this.downstream.pools.get(host, cluster.options, cluster.health)
    const now = clock()
    const d = this.tryDeadline(now)
    this.attempts++
    const conn = pool.acquire(now)
    if (conn === null) {
      if (!pool.overloaded && this.#retry('connect-failure', now)) return
      this.fail(pool.overloaded ? localReplyFor('ISTH_ERR_UPSTREAM_OVERLOADED', `${host.id} has ${cluster.options.upstream.maxConnections * cluster.options.upstream.maxConcurrentStreams} calls in flight`) : connectReply(host.id, pool.lastConnectError))
      return
    }
    const deadline = d === 0 ? Infinity : d
    const left = deadline - now
    if (left <= 0) { this.fail(DEADLINE_REPLY); return }
    const f = this.frame
    const id = conn.takeId()
    let buf: Buffer
    const headers = this.headers as BoltHeaderView
    normalizeSwitch(f.buf, f.hasCrc)
    if (headers.changed) {
      const hl = headers.encodedLength()
      if (hl > 32767) { this.fail(HEADER_TOO_LARGE); return }
      buf = reencodeWithHeaders(f, headers, hl, id)
      if (f.timeout > 0 && left < f.timeout) { patchTimeout(buf, Math.max(1, Math.floor(left))); patchRequestId(buf, id, f.hasCrc) }
    } else {
      buf = f.buf
      if (f.timeout > 0 && left < f.timeout - 1) patchTimeout(buf, Math.max(1, Math.floor(left)))
      patchRequestId(buf, id, f.hasCrc)
    }
    this.upstream = conn
    this.upstreamId = id
    if (this.taps !== null) { tapRequestData(this, f.content()); tapRequestEnd(this) }
    if (f.isOneway) {
      if (!conn.send(null, id, buf, Infinity)) this.downstream.waitUpstream(conn)
      this.finish(BoltStatus.SUCCESS)
      this.downstream.onCallDone(this)
      return
    }
    host.active++
    this.#onUpstream = true
    if (!conn.send(this, id, buf, deadline)) this.downstream.waitUpstream(conn)
  }

  /**
   * Send the request again, to another host, when the route retries this failure (nothing
   * reached the caller yet: a Bolt response is one frame). True when a retry went out or
   * failed the call itself; false: the caller answers the failure.
   */
  #retry (on: 'connect-failure' | 'refused' | 'per-try-timeout', now: number): boolean {
    if (this.frame.isOneway || this.mayRetry(on, now) === null) return false
    const next = this.retryHost(this.host!, now)
    if (next === null) return false
    this.host = next
    this.upstream = null
    this.#forward()
    return true
  }

  /** Leave the upstream connection: its response, if any, is dropped; the host slot is freed. */
  #detach (): void {
    if (!this.#onUpstream) return
    this.#onUpstream = false
    this.host!.active--
    this.upstream?.forget(this.upstreamId)
  }

  onUpstreamResponse (frame: BoltFrame): void {
    if (!this.#onUpstream) return
    this.#onUpstream = false
    const host = this.host!
    host.active--
    try {
      const now = clock()
      this.cluster!.health.boltOutcome(host, frame.status, now)
      // A busy upstream refused the request unprocessed: another host may take it.
      if (frame.status === BoltStatus.SERVER_THREADPOOL_BUSY && this.#retry('refused', now)) return
      this.response = frame
      if (this.taps !== null) tapResponseData(this, frame.content())
      // Only a filter reads response headers (onResponse, or onLog/onEvent after it): without
      // one the response goes out raw and the view is never built.
      const ch = this.chain
      if (ch.response !== null || ch.log !== null || ch.events !== null) this.responseHeaders = new BoltHeaderView(frame.buf, frame.headerStart, frame.contentStart)
      this.respond()
    } catch (err) {
      this.internalError(err)
    }
  }

  /**
   * The request failed on its connection. Nothing counts against the host here: a lost
   * connection is one host failure however many calls it carried (the pool counts it), and
   * a timeout never is (a slow host is not a dead one, and the deadline may be the caller's).
   */
  onUpstreamFailure (kind: UpstreamFailure): void {
    if (!this.#onUpstream) return
    this.#onUpstream = false
    const host = this.host!
    host.active--
    try {
      const now = clock()
      if (kind === UpstreamFailure.Connect && this.#retry('connect-failure', now)) return
      if (kind === UpstreamFailure.Timeout && this.callDeadline - now > 1 && this.#retry('per-try-timeout', now)) return
      this.fail(kind === UpstreamFailure.Connect ? connectReply(host.id, this.upstream?.lastError ?? '') : FAILURE_REPLIES[kind])
    } catch (err) {
      this.internalError(err)
    }
  }

  protected continueResponse (): void {
    try {
      const r = this.response!
      const headers = this.responseHeaders as BoltHeaderView | null
      let buf: Buffer
      const hl = headers !== null && headers.changed ? headers.encodedLength() : -1
      if (headers !== null && hl >= 0 && hl <= 32767) {
        buf = reencodeWithHeaders(r, headers, hl, this.downstreamId)
      } else {
        buf = r.buf
        patchRequestId(buf, this.downstreamId, r.hasCrc)
      }
      this.bytesOut = buf.length
      this.answered = this.downstream.writeFrame(buf, this)
      this.finish(r.status)
      this.downstream.onCallDone(this)
    } catch (err) {
      this.internalError(err)
    }
  }

  protected sendLocalReply (reply: LocalReply): void {
    try {
      if (!this.frame.isOneway && !this.answered) {
        const buf = localReplyFrame(reply, this.#shape())
        this.bytesOut = buf.length
        this.answered = this.downstream.writeFrame(buf, this)
      }
      this.finish(this.status)
      this.downstream.onCallDone(this)
    } catch (err) {
      this.internalError(err)
    }
  }

  #shape (): { proto: number, ver1: number, switchByte: number, requestId: number } {
    return { proto: this.frame.proto, ver1: this.frame.ver1, switchByte: this.frame.switchByte, requestId: this.downstreamId }
  }

  /** Refused before any work (GoAway sent): answered and counted like every other call. */
  refuse (reply: LocalReply): void {
    BOLT_METRICS.active++ // what start() would have counted; finish() counts it back
    this.fail(reply)
  }

  /** The client connection went away (or was closed by the gateway): end without answering. */
  cancel (): void {
    if (this.phase === Phase.End) return
    this.#detach()
    if (this.status === -1) { this.status = BoltStatus.CONNECTION_CLOSED; this.message = 'client connection closed' }
    this.finish(BoltStatus.CONNECTION_CLOSED)
  }

  /** A gateway bug on this call's path: log once, answer ISTH_ERR_INTERNAL once, end the call. */
  override internalError (err: unknown): void {
    if (!this.#internalLogged) {
      this.#internalLogged = true
      this.logger.error({ err, svc: this.service, method: this.method, peer: this.remoteAddress, phase: this.phase }, 'bolt call failed (internal error)')
    }
    if (this.phase !== Phase.End) {
      if (this.phase === Phase.Decode) BOLT_METRICS.active++ // failed before start(): count it in, finish() counts it out
      this.#detach()
      this.code = INTERNAL_REPLY.code
      this.status = BoltStatus.SERVER_EXCEPTION
      this.message = INTERNAL_REPLY.message
      try {
        if (!this.frame.isOneway && !this.answered) {
          this.answered = true
          this.downstream.writeFrame(localReplyFrame(INTERNAL_REPLY, this.#shape()), this)
        }
        this.finish(BoltStatus.SERVER_EXCEPTION)
      } catch {
        // Already logged once; the in-flight accounting below must still happen.
      }
    }
    this.downstream.onCallDone(this) // idempotent: also when the bug hit after finish()
  }
}
