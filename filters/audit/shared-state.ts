/**
 * What the writer thread tells the gateway's thread without a message: flags (Int32, read on
 * the call path by the refuse check, waited on at close) and gauges/counters (Float64, read by
 * prom-client at scrape time). One SharedArrayBuffer per trail.
 */
export const Flag = {
  /** 0 starting, 1 writing, 2 failed (cannot open or write the trail). */
  State: 0,
  /** 1 while the spool is over its bound or the trail cannot be written: `refuse` refuses. */
  Refusing: 1,
  /** Set to 1 and notified when a close request has been flushed to disk. */
  Closed: 2,
  /** The record ring's write and read counters (record-ring.ts), slots 4 and 5. */
  RingPositions: 4,
} as const

export const Stat = {
  /** Seq of the last record written to disk. */
  Records: 0,
  /** Bytes written to segment files by this process. */
  BytesWritten: 1,
  /** Records taken from the ring (written, or lost to a failing disk). */
  RecordsIn: 2,
  WriteErrors: 4,
  Checkpoints: 5,
  /** Trail bytes the queue has not taken (queue on), else 0. */
  SpoolBytes: 6,
  /** Jobs waiting or active in the BullMQ queue; -1 unknown. */
  QueueDepth: 7,
  /** Records handed to the queue. */
  Enqueued: 8,
  /** Records deleted before the queue took them (spool `drop`). */
  ExportDropped: 9,
  /** Records declared lost in the trail (gap entries). */
  Lost: 10,
  /** 1 while Redis takes jobs. */
  RedisUp: 11,
  /** Segment files in the directory. */
  Segments: 12,
  /** Bytes the writer holds that could not be written yet. */
  Unwritten: 13,
} as const

const FLAGS = 8
const STATS = 16

export interface SharedState {
  readonly buffer: SharedArrayBuffer
  readonly flags: Int32Array
  readonly ringPositions: Int32Array
  readonly stats: Float64Array
}

export function newSharedState (): SharedState {
  const buffer = new SharedArrayBuffer(FLAGS * 4 + STATS * 8)
  return viewSharedState(buffer)
}

export function viewSharedState (buffer: SharedArrayBuffer): SharedState {
  return {
    buffer,
    flags: new Int32Array(buffer, 0, FLAGS),
    ringPositions: new Int32Array(buffer, Flag.RingPositions * 4, 2),
    stats: new Float64Array(buffer, FLAGS * 4, STATS),
  }
}
