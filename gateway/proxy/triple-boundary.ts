import http2 from 'node:http2'
import type { Logger } from 'pino'
import { Phase } from '../call/phase.js'
import { GrpcStatus } from '../errors.js'
import type { TripleCall } from './triple-call.js'
import { INTERNAL } from './triple-replies.js'

const { NGHTTP2_INTERNAL_ERROR } = http2.constants

/**
 * The catch boundary of the Triple call path: whatever throws while a call starts, forwards
 * or answers (node refusing a header a filter set, a bug of ours) fails that call with
 * ISTH_ERR_INTERNAL and is logged; the process and the other calls never see it.
 * Never throws itself.
 */
export function internalError (call: TripleCall, err: unknown, where: string): void {
  logInternal(call.logger, err, where, call.service)
  if (call.phase === Phase.End) return
  try {
    call.fail(INTERNAL)
    if ((call.phase as number) === Phase.End) return // (fail() moves the phase on)
  } catch {}
  // The reply could not be written either: drop the downstream stream and end the call.
  try {
    call.abandonUpstream()
    if (call.down !== null) { call.localReset = true; if (!call.down.destroyed) call.down.close(NGHTTP2_INTERNAL_ERROR) } else call.res1?.destroy()
  } catch {}
  try { call.end(GrpcStatus.INTERNAL) } catch {}
}

interface Seen { at: number, suppressed: number }
const seen = new Map<string, Seen>()
const REPEAT_MS = 10_000

/**
 * One error line per kind of failure (where + error code), then at most one per REPEAT_MS with
 * the count in between: a client that makes every call fail the same way cannot flood the log.
 */
export function logInternal (logger: Logger, err: unknown, where: string, service: string): void {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : (err as Error)?.name ?? typeof err
  const key = where + '\u0000' + code
  const now = Date.now()
  const s = seen.get(key)
  if (s !== undefined && now - s.at < REPEAT_MS) { s.suppressed++; return }
  if (seen.size >= 256) seen.clear()
  seen.set(key, { at: now, suppressed: 0 })
  try {
    logger.error({ where, svc: service, code, err: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined, suppressed: s?.suppressed ?? 0 }, 'internal error on a Triple call')
  } catch {}
}
