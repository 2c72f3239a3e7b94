/** What the gateway's thread (trail.ts) and the trail thread (trail-worker.ts) exchange. */

/** Settings of one trail; a new revision of the filter config may change them (`config`). */
export interface TrailSettings {
  readonly rotate: { readonly maxBytes: number, readonly intervalMs: number }
  readonly checkpoint: { readonly records: number, readonly intervalMs: number }
  /** PEM file of the checkpoint signing key (absolute); null: unsigned checkpoints. */
  readonly keyPath: string | null
  readonly maxBufferBytes: number
  readonly retainBytes: number
  readonly spool: { readonly maxBytes: number, readonly onFull: 'drop' | 'refuse' }
  /** The BullMQ export, or null (file only). */
  readonly queue: null | {
    readonly redisUrl: string
    /** Environment variable holding the Redis password (read by the trail thread). */
    readonly passwordEnv: string | undefined
    readonly keyPrefix: string
    readonly queueName: string
    readonly maxJobBytes: number
  }
}

export interface TrailWorkerData {
  readonly dir: string
  readonly entity: string
  readonly node: string
  readonly settings: TrailSettings
  readonly shared: SharedArrayBuffer
  /** The record ring (record-ring.ts). */
  readonly ring: SharedArrayBuffer
}

/** `wake`: records are in the ring. */
export type ToWorker =
  | { t: 'wake' }
  | { t: 'config', settings: TrailSettings }
  | { t: 'close' }

export interface FromWorker { t: 'log', level: 'info' | 'warn' | 'error', msg: string, err?: string }
