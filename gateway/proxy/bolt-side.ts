/**
 * A side request of a Bolt call (call/side.ts): the request frame re-framed for another
 * cluster's host with its own request id on that connection, the spec's header added to the
 * header map, and the spec's timeout; sent at once (a Bolt request is whole when decoded).
 * Refused, not queued, when the connection's write buffer is over the spec's bound; the
 * connection's own sweep enforces the deadline. No host accounting, no health record.
 */
import { performance } from 'node:perf_hooks'
import type { SideOutcome, SideRefusal, SideRequest, SideSpec } from '../call/side.js'
import type { BoltFrame } from '../protocol/bolt/command.js'
import { normalizeSwitch, patchRequestId, patchTimeout, reencodeWithHeader } from '../protocol/bolt/encoder.js'
import { encodeHeaderMap } from '../protocol/bolt/header-view.js'
import { UpstreamFailure, type BoltConnection, type BoltExchange } from '../upstream/bolt-connection.js'
import type { BoltCall } from './bolt-call.js'

const MAX_HEADER_BYTES = 32767

export function openBoltSide (call: BoltCall, spec: SideSpec): SideRequest | SideRefusal {
  const f = call.frame
  if (f.isOneway) return 'protocol'
  if (call.contentFault() !== '') return 'protocol' // would close a shared upstream connection too
  const cluster = call.snapshot.clusters.get(spec.cluster)
  if (cluster === undefined) return 'no-cluster'
  if (cluster.protocol !== 'bolt') return 'protocol'
  const now = performance.now()
  const host = cluster.lb.pick(cluster.hosts, call, now)
  if (host === null) return 'no-host'
  const conn = call.downstream.pools.get(host, cluster.options).acquire(now)
  if (conn === null) return 'busy'
  if (conn.socket.writableLength > spec.maxBufferedBytes) return 'buffer'
  const pairs: Array<[string, string]> = []
  for (const p of call.headers.entries()) if (p[0] !== spec.header) pairs.push(p)
  pairs.push([spec.header, spec.headerValue])
  const header = encodeHeaderMap(pairs)
  if (header.length > MAX_HEADER_BYTES) return 'protocol'
  const id = conn.takeId()
  const buf = reencodeWithHeader(f, header, id)
  normalizeSwitch(buf, f.hasCrc)
  patchTimeout(buf, Math.max(1, Math.floor(spec.timeoutMs)))
  patchRequestId(buf, id, f.hasCrc) // recomputes the CRC after the timeout patch
  const side = new BoltSide(spec, conn, id)
  conn.send(side, id, buf, now + spec.timeoutMs)
  side.opened = true
  return side
}

class BoltSide implements SideRequest, BoltExchange {
  readonly spec: SideSpec
  readonly conn: BoltConnection
  readonly id: number
  opened = false
  done = false

  constructor (spec: SideSpec, conn: BoltConnection, id: number) {
    this.spec = spec
    this.conn = conn
    this.id = id
  }

  write (_chunk: Buffer): boolean { return !this.done }
  end (): void {}

  abort (): void {
    if (this.done) return
    this.conn.forget(this.id)
    this.deliver('aborted', -1, 0, null)
  }

  onUpstreamResponse (frame: BoltFrame): void {
    this.deliver('ok', frame.status, frame.contentEnd - frame.contentStart, frame)
  }

  onUpstreamFailure (kind: UpstreamFailure): void {
    this.deliver(kind === UpstreamFailure.Timeout ? 'timeout' : kind === UpstreamFailure.Connect ? 'connect' : 'reset', -1, 0, null)
  }

  deliver (outcome: SideOutcome, status: number, bytes: number, frame: BoltFrame | null): void {
    if (this.done) return
    this.done = true
    // Never from inside openSide/abort: the filter must hold the side before it hears of it.
    if (!this.opened || outcome === 'aborted') { process.nextTick(emit, this, outcome, status, bytes, frame === null ? null : Buffer.from(frame.content())); return }
    emit(this, outcome, status, bytes, frame === null ? null : frame.content())
  }
}

function emit (side: BoltSide, outcome: SideOutcome, status: number, bytes: number, content: Buffer | null): void {
  const l = side.spec.listener
  try {
    if (content !== null && l.onSideData !== undefined) l.onSideData(side, content)
    l.onSideEnd(side, { outcome, status, grpcStatus: -1, bytes })
  } catch {}
}
