import type { BoltFrame } from './command.js'
import { BoltFrameReader, type BoltFrameSink } from './frame-reader.js'
import { DEFAULT_BOLT_LIMITS, type BoltLimitsConfig } from './types.js'

export type { BoltFrameSink } from './frame-reader.js'

/** A BoltFrameReader that reports to a separate sink (upstream connections, tests, tools). */
export class BoltDecoder extends BoltFrameReader {
  readonly #sink: BoltFrameSink
  readonly #limits: BoltLimitsConfig

  constructor (sink: BoltFrameSink, limits: BoltLimitsConfig = DEFAULT_BOLT_LIMITS, checkCrc = true) {
    super(checkCrc)
    this.#sink = sink
    this.#limits = limits
  }

  protected get frameLimits (): BoltLimitsConfig { return this.#limits }
  onBoltFrame (frame: BoltFrame): void { this.#sink.onBoltFrame(frame) }
  onBoltCodecError (reason: string, requestId: number, proto: number, ver1: number, type: number): void {
    this.#sink.onBoltCodecError(reason, requestId, proto, ver1, type)
  }
}
