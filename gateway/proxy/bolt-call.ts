import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { LocalReply, localReplyFor } from '../chain/local-reply.js'
import type { Snapshot } from '../config/snapshot.js'
import { BoltStatus } from '../errors.js'
import type { BoltFrame } from '../protocol/bolt/command.js'
import { patchRequestId, patchTimeout, reencodeWithHeaders } from '../protocol/bolt/encoder.js'
import { BoltHeaderView } from '../protocol/bolt/header-view.js'
import { localReplyFrame } from '../protocol/bolt/mapping.js'
import { UpstreamFailure, type BoltConnection, type BoltExchange } from '../upstream/bolt-connection.js'
import type { BoltPoolRegistry } from '../upstream/bolt-pool.js'
import { ProxiedCall } from './proxied-call.js'

/** The downstream side of a Bolt call: where its response goes. */
export interface BoltDownstream {
  /** Write a response frame; false when the socket's buffer is full (hold the source). */
  writeFrame (buf: Buffer): boolean
  /** Backpressure: `up` took a request with its buffer full; stop reading until it drains. */
  waitUpstream (up: BoltConnection): void
  /** Backpressure: we are full after a response from `up`; stop reading `up` until we drain. */
  holdUpstream (up: BoltConnection): void
  /** The call is over (for drain accounting). */
  onCallDone (call: BoltCall): void
  readonly pools: BoltPoolRegistry
}

const TIMEOUT_REPLY = new LocalReply('ISTH_ERR_UPSTREAM_TIMEOUT', 'no response before the deadline')
const RESET_REPLY = new LocalReply('ISTH_ERR_UPSTREAM_RESET', 'connection closed before the response')
const CONNECT_REPLY = new LocalReply('ISTH_ERR_UPSTREAM_CONNECT', 'cannot connect to the upstream host')
const DEADLINE_REPLY = new LocalReply('ISTH_ERR_DEADLINE_EXCEEDED', 'no time left to call the upstream')
const HEADER_TOO_LARGE = new LocalReply('ISTH_ERR_FILTER_FAILED', 'headers', 'header map grew over 32767 bytes after filters')
const FAILURE_REPLIES = [TIMEOUT_REPLY, RESET_REPLY, CONNECT_REPLY]

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
 */
export class BoltCall extends ProxiedCall implements BoltExchange {
  readonly frame: BoltFrame
  readonly downstream: BoltDownstream
  readonly downstreamId: number
  upstream: BoltConnection | null
  upstreamId: number
  response: BoltFrame | null

  constructor (frame: BoltFrame, downstream: BoltDownstream, headers: BoltHeaderView, remoteAddress: string, snapshot: Snapshot, logger: Logger) {
    super('bolt', 'bolt', headers, remoteAddress, snapshot, logger)
    this.frame = frame
    this.downstream = downstream
    this.downstreamId = frame.requestId
    this.upstream = null
    this.upstreamId = 0
    this.response = null
    this.bytesIn = frame.buf.length
    if (frame.timeout > 0) this.deadline = this.startedAt + frame.timeout
  }

  protected forward (): void {
    const host = this.host!
    const cluster = this.cluster!
    const pool = this.downstream.pools.get(host, cluster.options)
    const now = performance.now()
    const conn = pool.acquire(now)
    if (conn === null) {
      this.fail(pool.overloaded ? localReplyFor('ISTH_ERR_UPSTREAM_OVERLOADED', `${host.id} has ${cluster.options.upstream.maxConnections * cluster.options.upstream.maxConcurrentStreams} calls in flight`) : connectReply(host.id, pool.lastConnectError))
      return
    }
    const deadline = this.deadline === 0 ? Infinity : this.deadline
    const left = deadline - now
    if (left <= 0) { this.fail(DEADLINE_REPLY); return }
    const f = this.frame
    const id = conn.takeId()
    let buf: Buffer
    const headers = this.headers as BoltHeaderView
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
    host.active++
    if (f.isOneway) {
      if (!conn.send(null, id, buf, Infinity)) this.downstream.waitUpstream(conn)
      host.active--
      this.finish(BoltStatus.SUCCESS)
      this.downstream.onCallDone(this)
      return
    }
    if (!conn.send(this, id, buf, deadline)) this.downstream.waitUpstream(conn)
  }

  onUpstreamResponse (frame: BoltFrame): void {
    this.host!.active--
    this.host!.recordSuccess()
    this.response = frame
    this.responseHeaders = new BoltHeaderView(frame.buf, frame.headerStart, frame.contentStart)
    this.respond()
  }

  onUpstreamFailure (kind: UpstreamFailure): void {
    const host = this.host!
    host.active--
    host.recordFailure(this.cluster!.options.outlier, performance.now())
    this.fail(kind === UpstreamFailure.Connect ? connectReply(host.id, this.upstream?.lastError ?? '') : FAILURE_REPLIES[kind])
  }

  protected continueResponse (): void {
    const r = this.response!
    const headers = this.responseHeaders as BoltHeaderView
    let buf: Buffer
    const hl = headers.changed ? headers.encodedLength() : -1
    if (hl >= 0 && hl <= 32767) {
      buf = reencodeWithHeaders(r, headers, hl, this.downstreamId)
    } else {
      buf = r.buf
      patchRequestId(buf, this.downstreamId, r.hasCrc)
    }
    this.bytesOut = buf.length
    if (!this.downstream.writeFrame(buf) && this.upstream !== null) this.downstream.holdUpstream(this.upstream)
    this.finish(r.status)
    this.downstream.onCallDone(this)
  }

  protected sendLocalReply (reply: LocalReply): void {
    if (!this.frame.isOneway) {
      const buf = localReplyFrame(reply, { proto: this.frame.proto, ver1: this.frame.ver1, switchByte: this.frame.switchByte, requestId: this.downstreamId })
      this.bytesOut = buf.length
      this.downstream.writeFrame(buf)
    }
    this.finish(this.status)
    this.downstream.onCallDone(this)
  }
}
