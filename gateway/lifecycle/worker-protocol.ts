/**
 * Messages between the primary of a multi-worker gateway (primary.ts, worker-pool.ts) and its
 * workers (worker-main.ts), over node:cluster's IPC channel. Every accepted change is one
 * numbered generation, applied in two phases: each worker compiles it (prepare) and keeps the
 * result aside; the primary commits only when every worker prepared, else it aborts, so no
 * worker ever serves a generation another refused.
 */
import type { GatewayOptions } from '../config/options.js'

/** Marks our messages (other modules may use the same channel). */
export const TAG = 'isthmus.worker' as const

export interface WireError { code: string, message: string, path?: string }
export interface WireAddress { address: string, port: number, family: string }

export type ToWorker =
  | { tag: typeof TAG, t: 'init', generation: number, options: GatewayOptions, baseDir: string, nodeId: string }
  | { tag: typeof TAG, t: 'prepare', generation: number, options: GatewayOptions }
  | { tag: typeof TAG, t: 'commit', generation: number }
  | { tag: typeof TAG, t: 'abort', generation: number }
  | { tag: typeof TAG, t: 'drain' }
  | { tag: typeof TAG, t: 'close' }
  | { tag: typeof TAG, t: 'metrics', id: number }

export type FromWorker =
  | { tag: typeof TAG, t: 'hello' }
  | { tag: typeof TAG, t: 'ready', generation: number, triple?: WireAddress, bolt?: WireAddress }
  | { tag: typeof TAG, t: 'start-failed', error: WireError }
  | { tag: typeof TAG, t: 'prepared', generation: number }
  | { tag: typeof TAG, t: 'prepare-failed', generation: number, error: WireError }
  | { tag: typeof TAG, t: 'committed', generation: number }
  | { tag: typeof TAG, t: 'commit-failed', generation: number, error: WireError }
  | { tag: typeof TAG, t: 'drained' }
  | { tag: typeof TAG, t: 'metrics', id: number, metrics: unknown[] }

export function isOurs<T extends { tag: string }> (m: unknown): m is T {
  return typeof m === 'object' && m !== null && (m as { tag?: unknown }).tag === TAG
}

/** An error as it crosses the channel: code, message, JSON path. */
export function toWire (err: unknown): WireError {
  const e = err as { code?: unknown, message?: unknown, path?: unknown }
  const out: WireError = {
    code: typeof e?.code === 'string' && e.code.startsWith('ISTH_ERR_') ? e.code : 'ISTH_ERR_INTERNAL',
    message: typeof e?.message === 'string' ? e.message : String(err),
  }
  if (typeof e?.path === 'string') out.path = e.path
  return out
}

/** Environment variable carrying a worker's index (1..N) into its process. */
export const WORKER_INDEX_ENV = 'ISTHMUS_WORKER_INDEX'
