/**
 * The filter API: what a user writes to put logic on the call path. Modelled on MOSN's
 * StreamReceiverFilter / StreamSenderFilter and Envoy's FilterConfig vs Filter split:
 * a factory validates and compiles options once per config revision, then creates one filter
 * per compiled chain. Per-call state goes on the Call, never on the filter.
 */
import type { Call } from '../call/call.js'
import type { CallEvent } from '../call/call-event.js'
import type { RequestPhaseName } from '../call/phase.js'
import type { ErrorCode } from '../errors.js'
import type { IsthmusError } from '../errors.js'
import type { Logger } from 'pino'
import type { LocalReply } from './local-reply.js'

export { LocalReply } from './local-reply.js'
export type { Call } from '../call/call.js'
export type { CallEvent } from '../call/call-event.js'
export type { CallHeaders } from '../call/headers.js'
export type { PeerIdentity, Decision } from '../call/identity.js'

/** Returned by a hook to let the call go on. */
export const CONTINUE = 0
export type Continue = typeof CONTINUE

/**
 * What a hook returns: CONTINUE, or a LocalReply that ends the call. A hook may return a
 * thenable of either; the runner then waits and resumes at the next filter. Sync hooks cost
 * no Promise.
 */
export type Verdict = Continue | LocalReply | PromiseLike<Continue | LocalReply>

export interface Filter {
  /** Request path, at the phase the factory declares (beforeRoute by default). */
  onRequest? (call: Call): Verdict
  /**
   * The call is about to be sent to `call.host`: once per upstream attempt, after every
   * onRequest hook continued (tracing starts its client span here and writes the propagation
   * headers). Synchronous and must not throw: a throw is logged and the call goes on. A chain
   * without this hook pays nothing for it.
   */
  onUpstream? (call: Call): void
  /** After the upstream's response headers arrived, or a local reply was chosen. */
  onResponse? (call: Call): Verdict
  /** When the call has ended (status, timings and decisions are final). Must not throw. */
  onLog? (call: Call): void
  /**
   * An event another filter of the chain reported on this call (`call.report`): always after
   * this call's onLog hooks, possibly long after (the `audit` filter writes it to the trail).
   * Synchronous; must not throw (a throw is logged).
   */
  onEvent? (call: Call, event: CallEvent): void
  /** Release timers, files and sockets when the chain is replaced. */
  close? (): void | Promise<void>
}

/** A JSON schema (draft 2020-12 / ajv), as a plain object. */
export type JsonSchema = Readonly<Record<string, unknown>>

/** A Prometheus-style counter a filter owns, created at compile time. Its counts are plain
 *  numbers the scrape reads; label values must come from config, never from a call. */
export interface FilterCounter {
  /** Add `value` (default 1). Cheapest with a frozen labels object built at compile time. */
  inc (labels?: Readonly<Record<string, string>>, value?: number): void
  /** The cell of one label set, to look up at compile time and bump per call: `cell.n++`. */
  cell (labels?: Readonly<Record<string, string>>): FilterCounterCell
}

/** One label set of a FilterCounter: a plain number. */
export interface FilterCounterCell { n: number }

/** What `compile` gets besides its options. */
export interface CompileContext {
  /** Entity this gateway belongs to. */
  readonly entity: string
  /** Directory relative paths in the options resolve against. */
  readonly baseDir: string
  readonly logger: Logger
  /** An error to throw for bad options; `path` is a JSON pointer inside the options. */
  invalid (message: string, path: string): IsthmusError
  /** A prebuilt local reply for the given code. */
  localReply (code: ErrorCode, detail: string, message?: string): LocalReply
  /**
   * The config file's `redis` section, for filters that share state across replicas
   * (`rate-limit` cluster rules); undefined when the gateway runs without Redis. The filter
   * opens its own connection; a password comes from the environment variable `passwordEnv`.
   */
  readonly redis?: Readonly<{ url: string, keyPrefix: string, passwordEnv?: string }>
  /** A counter named `isthmus_<filter>_<name>_total`, shared across revisions. */
  counter (name: string, help: string, labelNames?: readonly string[]): FilterCounter
  /**
   * Declare that this config reads `call.method`. Bolt clients such as sofa-rpc-node carry
   * the method only inside the request body; the gateway reads it from there (a bounded read
   * of the first fields) only while some filter or route of the running config declared it.
   * Without the declaration such a call's `method` is ''. '' also means "could not be read":
   * a rule that matches methods must fail closed on it (a deny rule denies, an allow rule
   * does not allow).
   */
  readsMethod (): void
}

export interface FilterFactory<Options = unknown, Config = unknown> {
  /** Config key, folder and registry name: one string (`rate-limit`). */
  readonly name: string
  /** JSON schema of the options (unknown keys should be rejected). */
  readonly schema: JsonSchema
  /** Where onRequest runs; default beforeRoute. */
  readonly phase?: RequestPhaseName
  /** Validate semantics beyond the schema and prebuild everything; runs once per revision. */
  compile (options: Options, ctx: CompileContext): Config
  /** Make the filter for a compiled chain. */
  create (config: Config): Filter
}

/** Helper for typed factories in user modules. */
export function defineFilter<O, C> (factory: FilterFactory<O, C>): FilterFactory<O, C> {
  return factory
}
