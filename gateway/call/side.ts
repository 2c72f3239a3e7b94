/**
 * Body taps and side requests: the two core hooks a filter such as `mirror` needs to copy a
 * call to another cluster without touching the call itself.
 *
 * A BodyTap observes the bytes of one call as the gateway forwards them (Triple: the HTTP/2
 * DATA bytes, gRPC framing included, as they arrive; Bolt: the request content once, the
 * response content once). A call carries taps only when a filter attached one (`call.tap`),
 * so a call without taps pays one null check per chunk.
 *
 * A side request is a detached request to a cluster of the call's snapshot carrying the call's
 * request headers plus the spec's extra header (`call.openSide`). It has its own bounded
 * write buffer and deadline; it never waits for a pool slot, never pauses or back-pressures the
 * call, never counts against host health, and its outcome never reaches the caller.
 */
import type { Call } from './call.js'

export interface BodyTap {
  /** A request body chunk on its way upstream. Must not keep `chunk` nor throw. */
  onRequestData? (call: Call, chunk: Buffer): void
  /** The request body is complete. */
  onRequestEnd? (call: Call): void
  /** A response body chunk on its way downstream (Bolt: the response content, once). */
  onResponseData? (call: Call, chunk: Buffer): void
}

export interface SideSpec {
  /** Cluster name in the call's snapshot. */
  readonly cluster: string
  /** Header added to the copy (Triple: an HTTP/2 header, lower-case; Bolt: a header-map key). */
  readonly header: string
  readonly headerValue: string
  /** Bytes the copy may hold in its write buffer; past that it is dropped (`write` false). */
  readonly maxBufferedBytes: number
  /** Deadline of the copy from now, ms. */
  readonly timeoutMs: number
  readonly listener: SideListener
}

/** How a side request ended. */
export type SideOutcome = 'ok' | 'timeout' | 'reset' | 'connect' | 'aborted'

export interface SideResult {
  readonly outcome: SideOutcome
  /** Triple: HTTP status; Bolt: the response status; -1 without a response. */
  readonly status: number
  /** Triple: grpc-status of the trailers (or Trailers-Only headers); -1 when absent or Bolt. */
  readonly grpcStatus: number
  /** Response body bytes (Triple DATA bytes; Bolt content). */
  readonly bytes: number
}

export interface SideListener {
  /** A response body chunk of the copy (for a digest). Must not keep `chunk` nor throw. */
  onSideData? (side: SideRequest, chunk: Buffer): void
  /** Exactly once, asynchronously (never from inside `openSide`, `write`, `end` or `abort`). Must not throw. */
  onSideEnd (side: SideRequest, result: SideResult): void
}

export interface SideRequest {
  /**
   * Copy request body bytes (Triple; Bolt copies are whole when opened and ignore this).
   * False when the copy cannot take them (its buffer is over `maxBufferedBytes`, or it has
   * ended): it is then aborted and ends with outcome `aborted`.
   */
  write (chunk: Buffer): boolean
  /** The request body is complete. */
  end (): void
  /** Cancel the copy (outcome `aborted`). Idempotent. */
  abort (): void
}

/** Why `openSide` refused: no such cluster, no available host, the host's pool is at its cap,
 *  the write buffer toward the host is full, or the cluster's protocol cannot carry the call. */
export type SideRefusal = 'no-cluster' | 'no-host' | 'busy' | 'buffer' | 'protocol'
