import type { Socket } from 'node:net'
import type { ConnectionLimits } from '../config/options.js'
import { limitTrips, type TripCell } from '../metrics.js'

/**
 * One source address of one guard: how many of its connections are open. Shared by all of
 * them (a source with many connections costs one of these, not one per connection).
 */
interface Source { readonly address: string, n: number, readonly guard: ConnectionGuard }

/** On an admitted socket: its Source until released, then the address alone (for the logs). */
const kSource = Symbol('isthmus.guardSource')
type Guarded = Socket & { [kSource]?: Source | string, _parent?: Guarded | null }
type PeerHandle = { getpeername?: (out: { address?: string }) => number } | null | undefined

/** Reused for every accept: the handle writes the peer's address into it. */
const peer: { address?: string } = {}

/**
 * The peer address of a just-accepted socket, read from its handle without the object
 * `socket.remoteAddress` caches on the socket for good (`_peername`, kept while it is open).
 */
function peerAddress (socket: Socket): string {
  const h = (socket as unknown as { _handle?: PeerHandle })._handle
  if (typeof h?.getpeername !== 'function') return socket.remoteAddress ?? ''
  peer.address = undefined
  const a = h.getpeername(peer) === 0 ? peer.address : undefined
  peer.address = undefined
  return a ?? ''
}

/**
 * Connection caps of one listener: in total and per source address. `admit` runs first thing
 * on accept (before any other work for the socket); a refused socket is destroyed and the
 * trip counted. The owner releases an admitted socket from its own (module-level) 'close'
 * listener: one listener per socket, not one per concern.
 */
export class ConnectionGuard {
  readonly #max: number
  readonly #maxPerSource: number
  readonly #bySource = new Map<string, Source>()
  readonly #tripTotal: TripCell
  readonly #tripSource: TripCell
  /** Whoever owns the admitted sockets (found from a socket by `ownerOf`: no per-socket pointer to it). */
  readonly owner: unknown
  #open = 0

  constructor (listener: string, limits: Readonly<Pick<ConnectionLimits, 'maxConnections' | 'maxConnectionsPerSource'>>, owner: unknown = null) {
    this.owner = owner
    this.#max = limits.maxConnections
    this.#maxPerSource = limits.maxConnectionsPerSource
    this.#tripTotal = limitTrips(listener, 'connections')
    this.#tripSource = limitTrips(listener, 'connections_per_source')
  }

  get open (): number { return this.#open }

  /** Count the socket in, or destroy it (false) when a cap is reached. */
  admit (socket: Socket): boolean {
    if (this.#open >= this.#max) { this.#tripTotal.n++; socket.destroy(); return false }
    const address = peerAddress(socket)
    let src = this.#bySource.get(address)
    if (src !== undefined && src.n >= this.#maxPerSource) { this.#tripSource.n++; socket.destroy(); return false }
    if (src === undefined) {
      if (this.#maxPerSource < 1) { this.#tripSource.n++; socket.destroy(); return false }
      src = { address, n: 0, guard: this }
      this.#bySource.set(address, src)
    }
    src.n++
    this.#open++
    ;(socket as Guarded)[kSource] = src
    return true
  }

  /** Release an admitted socket (its 'close'); idempotent, and a no-op for one never admitted. */
  static release (socket: Socket): void {
    const g = socket as Guarded
    const src = g[kSource]
    if (src === undefined || typeof src === 'string') return
    g[kSource] = src.address
    const guard = src.guard
    guard.#open--
    if (--src.n <= 0 && guard.#bySource.get(src.address) === src) guard.#bySource.delete(src.address)
  }

  /** The guard's owner for a socket admitted and not yet released; undefined otherwise. */
  static ownerOf (socket: Socket): unknown {
    const src = (socket as Guarded)[kSource]
    return src === undefined || typeof src === 'string' ? undefined : src.guard.owner
  }

  /** The address an admitted socket (or, TLS, its raw socket) was counted under; undefined if none. */
  static addressOf (socket: Socket): string | undefined {
    const g = socket as Guarded
    const src = g[kSource] ?? g._parent?.[kSource]
    return src === undefined ? undefined : typeof src === 'string' ? src : src.address
  }
}
