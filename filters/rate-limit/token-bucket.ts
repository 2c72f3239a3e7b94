/**
 * A token bucket refilled lazily from the time each call passes in (the call's own start
 * time: no clock read per call). `rate` tokens per second up to `burst`; a take costs one.
 */
export class TokenBucket {
  readonly rate: number
  readonly burst: number
  tokens: number
  last: number

  constructor (rate: number, burst: number, now: number) {
    this.rate = rate
    this.burst = burst
    this.tokens = burst
    this.last = now
  }

  take (now: number): boolean {
    let t = this.tokens
    // Calls may reach the filter slightly out of start order (async filters before it): an
    // earlier time than the last one just refills nothing.
    if (now > this.last) {
      t += (now - this.last) * this.rate / 1000
      if (t > this.burst) t = this.burst
      this.last = now
    }
    if (t >= 1) { this.tokens = t - 1; return true }
    this.tokens = t
    return false
  }
}
