/**
 * Deliver body bytes to a call's taps (call/side.ts). Called only when `call.taps !== null`.
 * A tap that throws is a bug of its filter: it is logged once and the call's taps are dropped;
 * the call itself goes on untouched.
 */
import type { ProxiedCall } from './proxied-call.js'

export function tapRequestData (call: ProxiedCall, chunk: Buffer): void {
  const taps = call.taps!
  try {
    for (let i = 0; i < taps.length; i++) taps[i].onRequestData?.(call, chunk)
  } catch (err) { tapFailed(call, err) }
}

export function tapRequestEnd (call: ProxiedCall): void {
  const taps = call.taps!
  try {
    for (let i = 0; i < taps.length; i++) taps[i].onRequestEnd?.(call)
  } catch (err) { tapFailed(call, err) }
}

export function tapResponseData (call: ProxiedCall, chunk: Buffer): void {
  const taps = call.taps!
  try {
    for (let i = 0; i < taps.length; i++) taps[i].onResponseData?.(call, chunk)
  } catch (err) { tapFailed(call, err) }
}

function tapFailed (call: ProxiedCall, err: unknown): void {
  call.taps = null
  call.logger.error({ err, proto: call.protocol, svc: call.service }, 'body tap failed; taps of this call dropped')
}
