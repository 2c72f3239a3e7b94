/**
 * Heartbeat back-off for one upstream connection (DESIGN.md): start at `baseMs`; each
 * successful heartbeat on an idle connection doubles the interval up to `maxMs`; a failed or
 * timed-out heartbeat, or a timed-out request, resets it to `baseMs`; no heartbeat is sent
 * when a business response arrived within the current interval; `maxFailures` consecutive
 * heartbeat failures close the connection. Pure state, no timers: BoltConnection drives it.
 */
export interface HeartbeatSettings {
  readonly baseMs: number
  readonly maxMs: number
  readonly timeoutMs: number
  readonly maxFailures: number
}

export const HeartbeatAction = { Skip: 0, Send: 1 } as const

export class HeartbeatSchedule {
  readonly settings: HeartbeatSettings
  /** Current interval between checks. */
  interval: number
  /** Consecutive failed heartbeats. */
  failures = 0
  /** performance.now() of the last business response. */
  lastResponseAt = -Infinity

  constructor (settings: HeartbeatSettings) {
    this.settings = settings
    this.interval = settings.baseMs
  }

  /** The timer fired at `now`: skip (traffic seen within the interval) or send a heartbeat. */
  due (now: number): 0 | 1 {
    return now - this.lastResponseAt < this.interval ? HeartbeatAction.Skip : HeartbeatAction.Send
  }

  /** A business response arrived. */
  onResponse (now: number): void { this.lastResponseAt = now }

  onAck (): void {
    this.failures = 0
    this.interval = Math.min(this.interval * 2, this.settings.maxMs)
  }

  /** A heartbeat failed or timed out; true when the connection must be closed. */
  onHeartbeatFailure (): boolean {
    this.failures++
    this.interval = this.settings.baseMs
    return this.failures >= this.settings.maxFailures
  }

  /** A business request timed out: back to the base interval. */
  onRequestTimeout (): void { this.interval = this.settings.baseMs }
}
