/**
 * The bounded sample of mismatches: metadata and digests, never bodies. Process-wide (kept
 * across config revisions), newest first, published for the admin API as `mirror/mismatches`
 * (`GET /v1/mirror/mismatches`).
 */
import { publishView } from '../../gateway/index.js'
import type { CompareField } from './config.js'

export interface ResponseSummary {
  /** Triple: HTTP status; Bolt: response status. */
  readonly status: number
  /** gRPC status (-1: not a gRPC call, or absent). */
  readonly grpcStatus: number
  /** Response body bytes. */
  readonly bytes: number
  /** `sha256:<hex>` of the response body bytes. */
  readonly digest: string
}

export interface MismatchSample {
  readonly time: string
  readonly route: string
  readonly target: string
  readonly protocol: string
  readonly service: string
  readonly method: string
  /** The compared fields that differ. */
  readonly differ: readonly CompareField[]
  readonly primary: ResponseSummary
  readonly mirror: ResponseSummary
}

const MAX_NAME = 256
let ring: MismatchSample[] = []
let capacity = 100
let total = 0

export function setSampleCapacity (n: number): void {
  capacity = n
  if (ring.length > n) ring = ring.slice(ring.length - n)
}

export function recordMismatch (s: MismatchSample): void {
  total++
  if (capacity === 0) return
  if (ring.length >= capacity) ring.shift()
  ring.push(s)
}

export function clip (s: string): string {
  return s.length > MAX_NAME ? s.slice(0, MAX_NAME) + '…' : s
}

publishView('mirror/mismatches', () => ({ total, kept: ring.length, capacity, mismatches: ring.slice().reverse() }))
