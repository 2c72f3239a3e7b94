import type { Socket } from 'node:net'
import type { ConnectionLimits } from '../config/options.js'
import { limitTrips, type TripCell } from '../metrics.js'

const kSource = Symbol('isthmus.guardSource')
type Guarded = Socket & { [kSource]?: string, [kGuard]?: ConnectionGuard }
const kGuard = Symbol('isthmus.guard')

/**
 * Connection caps of one listener: in total and per source address. `admit` runs first thing
 * on accept (before any other work for the socket); a refused socket is destroyed and the
 * trip counted. Admitted sockets are released on 'close' by a module-level listener.
 */
export class ConnectionGuard {
  readonly #max: number
  readonly #maxPerSource: number
  readonly #bySource = new Map<string, number>()
  readonly #tripTotal: TripCell
  readonly #tripSource: TripCell
  #open = 0

  constructor (listener: string, limits: Readonly<Pick<ConnectionLimits, 'maxConnections' | 'maxConnectionsPerSource'>>) {
    this.#max = limits.maxConnections
    this.#maxPerSource = limits.maxConnectionsPerSource
    this.#tripTotal = limitTrips(listener, 'connections')
    this.#tripSource = limitTrips(listener, 'connections_per_source')
  }

  get open (): number { return this.#open }

  /** Count the socket in, or destroy it (false) when a cap is reached. */
  admit (socket: Socket): boolean {
    const g = socket as Guarded
    if (this.#open >= this.#max) { this.#tripTotal.n++; socket.destroy(); return false }
    const src = socket.remoteAddress ?? ''
    const n = this.#bySource.get(src) ?? 0
    if (n >= this.#maxPerSource) { this.#tripSource.n++; socket.destroy(); return false }
    this.#bySource.set(src, n + 1)
    this.#open++
    g[kSource] = src
    g[kGuard] = this
    socket.on('close', onGuardedClose)
    return true
  }

  release (socket: Socket): void {
    const g = socket as Guarded
    const src = g[kSource]
    if (src === undefined || g[kGuard] !== this) return
    g[kSource] = undefined
    this.#open--
    const n = (this.#bySource.get(src) ?? 1) - 1
    if (n <= 0) this.#bySource.delete(src); else this.#bySource.set(src, n)
  }
}

function onGuardedClose (this: Guarded): void { this[kGuard]?.release(this) }
