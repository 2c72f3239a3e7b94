import { CONTINUE, type Continue, type Verdict } from './filter-api.js'
import { LocalReply } from './local-reply.js'
import type { Call } from '../call/call.js'
import type { CallEvent } from '../call/call-event.js'
import type { ChainEntry } from './compiled-chain.js'

/** Returned by the runner when a hook went async; it will call `resume` later. */
export const PENDING = 1
export type RunResult = Continue | LocalReply | typeof PENDING

/** Called when an async run finishes: CONTINUE or the LocalReply that ends the call. */
export type Resume = (call: Call, result: Continue | LocalReply) => void

export type HookName = 'onRequest' | 'onResponse'

/** Logged and turned into ISTH_ERR_FILTER_FAILED; set by the gateway at start. */
export let onHookError: (call: Call, filter: string, err: unknown) => void = () => {}
export function setHookErrorHandler (fn: (call: Call, filter: string, err: unknown) => void): void { onHookError = fn }

/** A throw from the gateway's own code resuming a call after an async hook (forwarding,
 *  replying): logged here; the call then gets ISTH_ERR_INTERNAL. Set by the gateway at start. */
export let onResumeError: (call: Call, err: unknown) => void = (_call, err) => { process.stderr.write(`isthmus: call failed after an async filter: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`) }
export function setResumeErrorHandler (fn: (call: Call, err: unknown) => void): void { onResumeError = fn }

const INTERNAL = new LocalReply('ISTH_ERR_INTERNAL', 'the call failed after an async filter')

const failureReplies = new Map<string, LocalReply>()
function failureReply (filter: string): LocalReply {
  let r = failureReplies.get(filter)
  if (r === undefined) { r = new LocalReply('ISTH_ERR_FILTER_FAILED', filter); failureReplies.set(filter, r) }
  return r
}

/**
 * Run `hook` of each entry from `from` on. Synchronous hooks cost no Promise; the first
 * thenable switches to async and the run resumes at the next entry when it settles.
 * A throwing or rejecting hook ends the call with ISTH_ERR_FILTER_FAILED (never crashes).
 */
export function runHooks (call: Call, entries: readonly ChainEntry[], hook: HookName, from: number, resume: Resume): RunResult {
  for (let i = from; i < entries.length; i++) {
    const e = entries[i]
    let v: Verdict | undefined
    try {
      v = (e.filter[hook] as (c: Call) => Verdict)(call)
    } catch (err) {
      onHookError(call, e.name, err)
      return failureReply(e.name)
    }
    if (v === CONTINUE || v === undefined) continue
    if (v instanceof LocalReply) return v
    if (typeof (v as PromiseLike<unknown>).then === 'function') {
      waitFor(call, entries, hook, i, v as PromiseLike<Continue | LocalReply>, resume)
      return PENDING
    }
    // Anything else from a JS filter is a bug in the filter; end the call clearly.
    onHookError(call, e.name, new TypeError(`hook returned ${typeof v}, expected CONTINUE or a LocalReply`))
    return failureReply(e.name)
  }
  return CONTINUE
}

/**
 * The async path (closures allowed: it is the uncommon path by design). The thenable is
 * adopted by a real Promise, so a custom `then` that throws, or calls back twice, settles
 * once. The hook's value is checked as on the sync path. Whatever the continuation throws
 * (resuming the call: the next hooks are guarded already, the gateway's forward or reply is
 * not) is caught here: the call gets ISTH_ERR_INTERNAL and nothing reaches the process.
 */
function waitFor (call: Call, entries: readonly ChainEntry[], hook: HookName, i: number, p: PromiseLike<Continue | LocalReply>, resume: Resume): void {
  Promise.resolve(p).then((v) => {
    if (v instanceof LocalReply) { resumeSafely(call, resume, v); return }
    if (v !== CONTINUE && v !== undefined) {
      onHookError(call, entries[i].name, new TypeError(`hook resolved to ${typeof v}, expected CONTINUE or a LocalReply`))
      resumeSafely(call, resume, failureReply(entries[i].name))
      return
    }
    let r: RunResult
    try {
      r = runHooks(call, entries, hook, i + 1, resume)
    } catch (err) {
      resumeFailed(call, resume, err)
      return
    }
    if (r !== PENDING) resumeSafely(call, resume, r)
  }, (err: unknown) => {
    onHookError(call, entries[i].name, err)
    resumeSafely(call, resume, failureReply(entries[i].name))
  })
}

function resumeSafely (call: Call, resume: Resume, r: Continue | LocalReply): void {
  try {
    resume(call, r)
  } catch (err) {
    resumeFailed(call, resume, err)
  }
}

function resumeFailed (call: Call, resume: Resume, err: unknown): void {
  onResumeError(call, err)
  try {
    resume(call, INTERNAL)
  } catch (err2) {
    // The reply itself cannot be sent (its stream is gone): the driver's own close path ends
    // the call; this second failure is logged too.
    onResumeError(call, err2)
  }
}

/** onLog hooks: synchronous, errors logged and swallowed. */
export function runLogHooks (call: Call, entries: readonly ChainEntry[]): void {
  for (let i = 0; i < entries.length; i++) {
    try {
      entries[i].filter.onLog?.(call)
    } catch (err) {
      onHookError(call, entries[i].name, err)
    }
  }
}

/** onUpstream hooks: synchronous, errors logged and swallowed (the call goes on). */
export function runUpstreamHooks (call: Call, entries: readonly ChainEntry[]): void {
  for (let i = 0; i < entries.length; i++) {
    try {
      entries[i].filter.onUpstream?.(call)
    } catch (err) {
      onHookError(call, entries[i].name, err)
    }
  }
}

/** onEvent hooks: synchronous, errors logged and swallowed. */
export function runEventHooks (call: Call, entries: readonly ChainEntry[], event: CallEvent): void {
  for (let i = 0; i < entries.length; i++) {
    try {
      entries[i].filter.onEvent?.(call, event)
    } catch (err) {
      onHookError(call, entries[i].name, err)
    }
  }
}
