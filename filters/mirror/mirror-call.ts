/**
 * The per-call state of a mirrored call: its copies (one per chosen target), the tap that
 * feeds them the request body as it arrives and digests the primary's response, and the
 * comparison once both the primary and a copy are done. Everything here runs inside the
 * gateway's data path: no throw, no wait, no buffer beyond the copy's own bounded one.
 */
import { createHash, type Hash } from 'node:crypto'
import type { BodyTap, Call, SideListener, SideRequest, SideResult } from '../../gateway/index.js'
import type { CompareField, MirrorConfig, RouteMirror, TargetCells } from './config.js'
import { reportMismatch } from './audit-report.js'
import { clip, recordMismatch, type ResponseSummary } from './samples.js'

/** Copies in flight, process-wide (a reload does not reset the bound). */
export const inflight = { n: 0 }

const EMPTY_DIGEST = 'sha256:' + createHash('sha256').digest('hex')

export class MirrorCopy implements SideListener {
  readonly owner: MirrorCall
  readonly target: TargetCells
  side: SideRequest | null = null
  /** Counted as dropped already (cap, buffer): its end is not counted as an outcome. */
  dropped = false
  result: SideResult | null = null
  hash: Hash | null
  digest = ''

  constructor (owner: MirrorCall, target: TargetCells) {
    this.owner = owner
    this.target = target
    this.hash = owner.route.compare !== null ? createHash('sha256') : null
  }

  onSideData (_side: SideRequest, chunk: Buffer): void {
    if (this.hash !== null) this.hash.update(chunk)
  }

  onSideEnd (_side: SideRequest, result: SideResult): void {
    inflight.n--
    this.result = result
    if (this.hash !== null) { this.digest = 'sha256:' + this.hash.digest('hex'); this.hash = null }
    if (!this.dropped) this.target.outcome[result.outcome].n++
    this.owner.settle(this)
  }

  drop (reason: 'cap' | 'buffer'): void {
    if (this.dropped) return
    this.dropped = true
    this.target.dropped[reason].n++
    this.side?.abort()
  }
}

export class MirrorCall implements BodyTap {
  readonly cfg: MirrorConfig
  readonly route: RouteMirror
  readonly call: Call
  readonly copies: MirrorCopy[] = []
  readonly grpc: boolean
  reqBytes = 0
  reqEnded = false
  respBytes = 0
  respHash: Hash | null
  primary: ResponseSummary | null = null
  /** The primary ended without an upstream response (a gateway error): nothing to compare. */
  primaryFailed = false

  constructor (cfg: MirrorConfig, route: RouteMirror, call: Call) {
    this.cfg = cfg
    this.route = route
    this.call = call
    this.grpc = call.protocol === 'triple' && (call.headers.get('content-type') ?? '').startsWith('application/grpc')
    this.respHash = route.compare !== null ? createHash('sha256') : null
  }

  onRequestData (call: Call, chunk: Buffer): void {
    if (call.protocol !== 'triple') return // a Bolt copy is whole when opened
    this.reqBytes += chunk.length
    const over = this.reqBytes > this.cfg.maxBodyBytes
    for (let i = 0; i < this.copies.length; i++) {
      const c = this.copies[i]
      if (c.dropped || c.result !== null) continue
      if (over) c.drop('cap')
      else if (!c.side!.write(chunk)) c.drop('buffer')
    }
  }

  onRequestEnd (_call: Call): void {
    this.reqEnded = true
    for (let i = 0; i < this.copies.length; i++) {
      const c = this.copies[i]
      if (!c.dropped && c.result === null) c.side!.end()
    }
  }

  onResponseData (_call: Call, chunk: Buffer): void {
    this.respBytes += chunk.length
    if (this.respHash !== null) this.respHash.update(chunk)
  }

  /** The primary call ended (onLog): cut copies whose request never completed, then compare. */
  primaryDone (): void {
    const call = this.call
    if (!this.reqEnded) for (const c of this.copies) if (c.result === null) c.side!.abort()
    if (this.route.compare === null) return
    this.primaryFailed = call.code !== null || call.responseHeaders === null
    const status = call.protocol === 'triple' ? Number(call.responseHeaders?.get(':status') ?? -1) : call.status
    this.primary = {
      status: Number.isFinite(status) ? status : -1,
      grpcStatus: this.grpc ? call.status : -1,
      bytes: this.respBytes,
      digest: this.respHash !== null ? 'sha256:' + this.respHash.digest('hex') : EMPTY_DIGEST,
    }
    this.respHash = null
    for (const c of this.copies) if (c.result !== null) this.settle(c)
  }

  /** A copy or the primary finished: compare when both are. */
  settle (c: MirrorCopy): void {
    const fields = this.route.compare
    const p = this.primary
    const r = c.result
    if (fields === null || p === null || r === null || c.dropped) return
    if (this.primaryFailed || r.outcome !== 'ok') { c.target.compare.incomplete.n++; return }
    const m: ResponseSummary = { status: r.status, grpcStatus: this.grpc ? r.grpcStatus : -1, bytes: r.bytes, digest: c.digest === '' ? EMPTY_DIGEST : c.digest }
    const differ: CompareField[] = []
    for (const f of fields) {
      if (f === 'status' ? p.status !== m.status : f === 'grpc-status' ? p.grpcStatus !== m.grpcStatus : f === 'size' ? p.bytes !== m.bytes : p.digest !== m.digest) differ.push(f)
    }
    if (differ.length === 0) { c.target.compare.match.n++; return }
    c.target.compare.mismatch.n++
    const call = this.call
    const service = clip(call.service)
    const method = clip(call.method)
    recordMismatch({
      time: new Date().toISOString(), route: this.route.route, target: c.target.cluster, protocol: call.protocol,
      service, method, differ, primary: p, mirror: m,
    })
    reportMismatch(call, this.cfg.auditPerSecond, { route: this.route.route, target: c.target.cluster, differ, ignore: this.route.ignore, primary: p, mirror: m }, service, method)
  }
}
