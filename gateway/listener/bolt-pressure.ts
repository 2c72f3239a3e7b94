import type { BoltConnection } from '../upstream/bolt-connection.js'

/**
 * What only a Bolt connection under pressure needs (a full write buffer, a full upstream it
 * fed, closing), apart from the connection: most connections never make one.
 */
export class BoltPressure {
  /** While a write stall lasts: the client's waiting bytes when it began, plus every byte
   *  handed since; minus the socket's waiting bytes = what the client took. */
  handed = 0
  /** Bytes the client had taken when the stall clock last (re)started. */
  mark = 0
  /** When the stall clock last (re)started (performance.now() ms). */
  stallSince = 0
  /** Closing: when the close grace ends; 0 before. */
  closeBy = 0
  /** Full upstreams we fed and wait on ('drain'). */
  waitingOn: BoltConnection[] | null = null
}
