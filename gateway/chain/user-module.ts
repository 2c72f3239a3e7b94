/**
 * User filter modules (a config's `filters[].module`) run in the gateway's process, so their
 * failures must be contained without hiding anyone else's. Everything a module does runs in
 * an AsyncLocalStorage scope naming it: its import (top-level code, and every timer, promise
 * or socket that code starts), its compile and create, and each hook call. Node carries the
 * scope into the callbacks those start, and shows it in the process 'uncaughtException' and
 * 'unhandledRejection' handlers (Node 20: a timer, an immediate, nextTick, an emitter's
 * 'error', a promise rejected later, all keep the scope they were created in).
 *
 * The handlers installed here attribute, they never swallow: an error from a user module's
 * scope (or, when the scope was lost, an Error whose stack runs through the module's file) is
 * that module's failure outside a call: logged (the first one at once, then at most one line
 * per module per LOG_EVERY_MS with the count since) and counted in
 * `isthmus_filter_background_errors_total{filter}`. The module keeps serving: its failed
 * callback is gone, nothing else is known broken, and disabling it would let one caller who
 * can steer a buggy filter into a background throw fail every other caller's calls (a call's
 * own failure still fails that call: runner.ts). Any other error crashes the process
 * exactly as it would without them (re-raised to Node's own handling: stack printed, exit 1),
 * unless another handler is installed, in which case that handler decides, as it would
 * without us. The handlers exist only once a user module is loaded.
 *
 * Known gap: a non-Error thrown from a `queueMicrotask` callback carries neither scope nor
 * stack; it is not attributed and crashes the process.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { inspect } from 'node:util'
import { pathToFileURL } from 'node:url'
import type { Filter } from './filter-api.js'
import { performance } from 'node:perf_hooks'
import { plainCounter } from '../metrics.js'
import type { Call } from '../call/call.js'
import type { CallEvent } from '../call/call-event.js'

/** One user module file and its failures outside a call. */
export class UserModule {
  readonly file: string
  readonly url: string
  /** Chain entry names it was loaded as (for messages and the metric label). */
  readonly names = new Set<string>()
  /** Failures outside a call so far, and the last one (one line). */
  failures = 0
  lastFailure: string | null = null
  /** performance.now() of the last logged failure, and failures not logged since. */
  loggedAt = -Infinity
  unlogged = 0

  constructor (file: string) {
    this.file = file
    this.url = pathToFileURL(file).href
  }

  /** `filter "tenant-guard" (/etc/isthmus/tenant-guard.js)`. */
  get label (): string {
    const names = [...this.names]
    return `filter ${names.length === 0 ? '?' : names.map(n => JSON.stringify(n)).join(', ')} (${this.file})`
  }
}

/** How a module failure is reported (the gateway sets its logger at start); `more` failures
 *  since the last line were not logged. */
export type UserModuleFailureLog = (m: UserModule, err: unknown, origin: string, more: number) => void

let scope: AsyncLocalStorage<UserModule> | null = null
const modules = new Map<string, UserModule>()
let report: UserModuleFailureLog = (m, err, origin, more) => {
  process.stderr.write(JSON.stringify({ level: 50, time: Date.now(), filter: [...m.names], file: m.file, origin, err: describeThrown(err), more, msg: FAILED_MSG }) + '\n')
}
const FAILED_MSG = 'user filter failed outside a call (the gateway and the filter keep running)'
/** At most one log line per module per this long (the rest are counted). */
const LOG_EVERY_MS = 10_000
/** Failures outside a call, by chain entry name (entry names come from config). */
const backgroundFailures = plainCounter('isthmus_filter_background_errors_total', 'Errors a user filter module threw outside any call (a timer, an unhandled rejection), by chain entry; the gateway and the filter keep running', ['filter'])

export function setUserModuleFailureLog (fn: UserModuleFailureLog): void { report = fn }
export const USER_MODULE_FAILED_MSG = FAILED_MSG

/** The record of a module file (created on first use; installs the process handlers). */
export function userModule (file: string): UserModule {
  let m = modules.get(file)
  if (m === undefined) {
    m = new UserModule(file)
    modules.set(file, m)
    if (scope === null) {
      scope = new AsyncLocalStorage()
      process.on('uncaughtException', onUncaughtException)
      process.on('unhandledRejection', onUnhandledRejection)
    }
  }
  return m
}

/** `fn(...args)` inside the module's scope (what it starts stays attributed to it). */
export function runIn<A extends unknown[], R> (m: UserModule, fn: (...args: A) => R, ...args: A): R {
  return (scope as AsyncLocalStorage<UserModule>).run(m, fn, ...args)
}

/** A one-line description of anything thrown: an Error's first line, `null`, a string... */
export function describeThrown (err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : err.name + ': '}${err.message.split('\n')[0]}`
  if (typeof err === 'string') return `threw the string ${JSON.stringify(err.length > 200 ? err.slice(0, 200) + '…' : err)}`
  return `threw ${inspect(err, { depth: 1, breakLength: Infinity }).slice(0, 200)}`
}

/**
 * `f` with every hook run in `m`'s scope, so what a hook starts stays attributed to the
 * module. One closure per hook per compile, none per call.
 */
export function guardFilter (f: Filter, m: UserModule): Filter {
  // Inherits from `f`: anything else the filter carries reads through; the hooks are own.
  const g = Object.create(f) as Filter
  const onRequest = f.onRequest
  if (typeof onRequest === 'function') g.onRequest = (call) => runIn(m, invokeHook, onRequest, f, call)
  const onResponse = f.onResponse
  if (typeof onResponse === 'function') g.onResponse = (call) => runIn(m, invokeHook, onResponse, f, call)
  const onLog = f.onLog
  if (typeof onLog === 'function') g.onLog = (call) => { runIn(m, invokeHook, onLog, f, call) }
  const onEvent = f.onEvent
  if (typeof onEvent === 'function') g.onEvent = (call, event) => { runIn(m, invokeEvent, onEvent, f, call, event) }
  const close = f.close
  if (typeof close === 'function') g.close = () => runIn(m, invokeClose, close, f)
  return g
}

function invokeHook<R> (hook: (this: Filter, call: Call) => R, self: Filter, call: Call): R { return hook.call(self, call) }
function invokeEvent (hook: (this: Filter, call: Call, event: CallEvent) => void, self: Filter, call: Call, event: CallEvent): void { hook.call(self, call, event) }
function invokeClose (close: (this: Filter) => void | Promise<void>, self: Filter): void | Promise<void> { return close.call(self) }

/** The user module an error belongs to: its async scope, else an Error stack through its file. */
function attribute (err: unknown): UserModule | null {
  const m = scope?.getStore()
  if (m !== undefined) return m
  const stack = err instanceof Error ? err.stack : undefined
  if (typeof stack === 'string') {
    for (const u of modules.values()) if (stack.includes(u.url) || stack.includes(u.file)) return u
  }
  return null
}

function fail (m: UserModule, err: unknown, origin: string): void {
  m.failures++
  m.lastFailure = describeThrown(err)
  for (const name of m.names) backgroundFailures.inc({ filter: name })
  const now = performance.now()
  if (now - m.loggedAt < LOG_EVERY_MS) { m.unlogged++; return }
  const more = m.unlogged
  m.loggedAt = now
  m.unlogged = 0
  try { report(m, err, origin, more) } catch { /* counted; a broken log sink must not turn it into a crash */ }
}

function onUncaughtException (err: unknown, origin: string): void {
  const m = attribute(err)
  if (m !== null) { fail(m, err, origin); return }
  // Not a user module's: with another handler installed, it decides (as without us);
  // otherwise re-raise to Node's own fatal handling.
  if (process.listenerCount('uncaughtException') > 1) return
  reraise()
  process.nextTick(rethrow, err)
}

function onUnhandledRejection (reason: unknown): void {
  const m = attribute(reason)
  if (m !== null) { fail(m, reason, 'unhandledRejection'); return }
  if (process.listenerCount('unhandledRejection') > 1) return
  reraise()
  // A fresh rejection of the same reason, with no handler left: Node reports it as it would
  // have reported the original (--unhandled-rejections mode included).
  void Promise.reject(reason)
}

/** Leave the process to Node's defaults (it is going down). */
function reraise (): void {
  process.off('uncaughtException', onUncaughtException)
  process.off('unhandledRejection', onUnhandledRejection)
}

function rethrow (err: unknown): never { throw err }
