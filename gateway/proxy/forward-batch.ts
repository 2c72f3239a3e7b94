import type { TripleCall } from './triple-call.js'

/**
 * Forwards deferred to the end of the current I/O turn, for sessions that reset streams
 * recently: node emits a stream before it reads the RST_STREAM sent right behind its HEADERS,
 * so a forward done at once would open an upstream stream only to cancel it. By the time the
 * batch runs, every frame of the packet was read, and a reset call is skipped. One
 * setImmediate per batch, not per call; the healthy path never comes here.
 */
export class ForwardBatch {
  #calls: TripleCall[] = []
  #scheduled = false

  push (call: TripleCall): void {
    this.#calls.push(call)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(flush, this)
    }
  }

  static flush (b: ForwardBatch): void {
    b.#scheduled = false
    const calls = b.#calls
    b.#calls = []
    for (let i = 0; i < calls.length; i++) calls[i].forwardNow() // never throws (its own boundary)
  }
}

function flush (b: ForwardBatch): void { ForwardBatch.flush(b) }
