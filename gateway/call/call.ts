import { performance } from 'node:perf_hooks'
import { now } from '../util/read-clock.js'
import type { ErrorCode } from '../errors.js'
import type { CallHeaders } from './headers.js'
import type { Decision, PeerIdentity } from './identity.js'
import type { TraceIds } from './trace-ids.js'
import { Phase, type PhaseId } from './phase.js'
import type { RouteConfig } from '../router/route.js'
import type { Cluster } from '../cluster/cluster.js'
import type { Host } from '../cluster/host.js'
import type { BodyTap, SideRefusal, SideRequest, SideSpec } from './side.js'
import type { CallEvent } from './call-event.js'

export type Protocol = 'triple' | 'bolt'

/**
 * One protocol-neutral view of a call: what filters, the router and the audit read.
 * Every field is set in the constructor so all Calls share one shape; filters write only to
 * these fields (and to `attrs` for their own data), never add properties.
 * Protocol drivers subclass it to keep their per-call state on the same object.
 */
export class Call {
  readonly protocol: Protocol
  /** Listener name (`triple`, `bolt`). */
  readonly listener: string
  /** Service (Triple: from `:path`; Bolt: `service` header, interface part). */
  service: string
  /** Method; '' when the protocol did not carry it (sofa-rpc-node Bolt calls). */
  method: string
  /** Service version ('' when absent). */
  version: string
  /** Service group / uniqueId ('' when absent). */
  group: string
  readonly headers: CallHeaders
  /** Remote address of the downstream connection. */
  readonly remoteAddress: string
  /** Identity from the downstream mTLS certificate, if any. */
  peer: PeerIdentity | null
  /** Identity established by an auth filter (JWT); falls back to `peer` in `caller`. */
  identity: PeerIdentity | null
  /** performance.now() at decode. */
  readonly startedAt: number
  /** Absolute deadline in performance.now() ms, 0 when the caller set none. */
  deadline: number
  phase: PhaseId

  // Attribute bag, written by filters and the router.
  /** LDC zone the call is routed to ('' when LDC routing is off). */
  zone: string
  /** LDC routing uid ('' when absent). */
  uid: string
  /** LDC shard of the uid (0-99 by default), -1 when LDC routing did not run. */
  shard: number
  /** Stress-test (load-test) traffic. */
  stress: boolean
  /** Trace id read from the request ('' when absent). */
  traceId: string
  /** Trace ids of the gateway's spans for this call, set by tracing (null when not traced). */
  trace: TraceIds | null
  /** A copy of this call was sent to a mirror target. */
  mirrored: boolean
  /**
   * A filter may `report` events on this call after its end (the `mirror` filter, comparing
   * responses): the audit keeps a link from them to the call's record. Set from a request hook.
   */
  eventsExpected: boolean
  route: RouteConfig | null
  cluster: Cluster | null
  host: Host | null
  /** Labels the chosen host must carry, set by the route or a filter before ChooseHost. */
  subset: Readonly<Record<string, string>> | null
  /** Decisions for the audit, allocated on first use. */
  decisions: Decision[] | null
  /** Free-form data for user filters, allocated on first use. */
  attrs: Map<string, unknown> | null
  /** Body taps (`tap()`), null when none: the data path tests only that. */
  taps: BodyTap[] | null

  // Outcome.
  /** Error code when the gateway (not the upstream) ended the call. */
  code: ErrorCode | null
  /** Final status: gRPC status for Triple, Bolt response status for Bolt; -1 until known. */
  status: number
  /** Message that goes with a non-OK status. */
  message: string
  /** Response headers once the upstream answered (null before). */
  responseHeaders: CallHeaders | null
  bytesIn: number
  bytesOut: number
  /** performance.now() when the call ended, 0 while it runs. */
  endedAt: number

  constructor (protocol: Protocol, listener: string, headers: CallHeaders, remoteAddress: string) {
    this.protocol = protocol
    this.listener = listener
    this.service = ''
    this.method = ''
    this.version = ''
    this.group = ''
    this.headers = headers
    this.remoteAddress = remoteAddress
    this.peer = null
    this.identity = null
    this.startedAt = now() // the read's time when a socket read made the call
    this.deadline = 0
    this.phase = Phase.Decode
    this.zone = ''
    this.uid = ''
    this.shard = -1
    this.stress = false
    this.traceId = ''
    this.trace = null
    this.mirrored = false
    this.eventsExpected = false
    this.route = null
    this.cluster = null
    this.host = null
    this.subset = null
    this.decisions = null
    this.attrs = null
    this.taps = null
    this.code = null
    this.status = -1
    this.message = ''
    this.responseHeaders = null
    this.bytesIn = 0
    this.bytesOut = 0
    this.endedAt = 0
  }

  /** The caller: a verified token identity if any, else the mTLS peer. */
  get caller (): PeerIdentity | null { return this.identity ?? this.peer }

  /**
   * Send the call to another cluster of the snapshot it runs under (by name), instead of the
   * one its route chose: for afterRoute filters such as LDC wrong-unit forwarding or a
   * stress-traffic shadow cluster (MOSN's ReChooseHost, without re-matching the route).
   * The route, its deadline and `subset` stay as they are (clear `subset` if the new cluster's
   * hosts do not carry those labels). Returns false, changing nothing, when no cluster has
   * that name or the host is already chosen (after afterRoute).
   */
  reroute (cluster: string): boolean {
    if (this.phase > Phase.AfterRoute) return false
    const c = this.clusterNamed(cluster)
    if (c === null) return false
    this.cluster = c
    return true
  }

  /** The cluster named so in this call's snapshot; the protocol drivers' calls know it. */
  protected clusterNamed (_name: string): Cluster | null { return null }

  /**
   * Observe this call's body bytes from now on (see call/side.ts). Attach before the call is
   * forwarded (a request hook). False, attaching nothing, when this call's path cannot be
   * observed (a Triple call to an HTTP/1.1 cluster).
   */
  tap (t: BodyTap): boolean {
    if (!this.canTap()) return false
    if (this.taps === null) this.taps = [t]
    else this.taps.push(t)
    return true
  }

  /**
   * Open a detached copy of this call to the cluster `spec.cluster` of its snapshot (see
   * call/side.ts): Triple copies stream the body as the filter writes it (with a tap); Bolt
   * copies are the whole request, re-framed with their own request id, sent now. Open it
   * from a request hook, before the call is forwarded. A refusal is returned as a string.
   */
  openSide (_spec: SideSpec): SideRequest | SideRefusal { return 'protocol' }

  /** Whether `tap` can attach; the protocol drivers' calls say. */
  protected canTap (): boolean { return false }

  /**
   * Report an event about this call to the filters of its chain (their `onEvent`), e.g. for
   * the audit trail. Reported before the call's onLog hooks have all run, it is delivered
   * right after them; later, at once. A call outside a chain (tests) drops it.
   */
  report (_event: CallEvent): void {}

  decide (decision: Decision): void {
    if (this.decisions === null) this.decisions = [decision]
    else this.decisions.push(decision)
  }

  /** Milliseconds left before the caller's deadline; Infinity when there is none. */
  remainingMs (now: number = performance.now()): number {
    return this.deadline === 0 ? Infinity : this.deadline - now
  }

  get durationMs (): number {
    return (this.endedAt === 0 ? performance.now() : this.endedAt) - this.startedAt
  }
}
