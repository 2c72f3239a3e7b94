/**
 * The audit filter: one record per call, whatever the outcome, written when the call has
 * ended (onLog runs from the call's finish, after every other filter's onLog: the filter is
 * the chain's last entry). The record is built here as one string (record.ts); hashing,
 * writing and export happen on the trail thread. With spool policy `refuse`, onRequest
 * refuses calls while the trail cannot take records (a flag read from shared memory).
 * Events other filters report on a call (onEvent: the `mirror` filter's mismatches) become
 * trail lines of their own kind, linked to the call's record (event-line.ts).
 */
import { CONTINUE, type Call, type CallEvent, type Filter, type Verdict } from '../../gateway/index.js'
import type { AuditConfig } from './config.js'
import { eventLine } from './event-line.js'
import { auditCounters } from './metrics.js'
import { filterClosed, filterOpened, rememberRecord } from './recent.js'
import { callJson } from './record.js'
import { Trail } from './trail.js'

export class AuditFilter implements Filter {
  readonly cfg: AuditConfig
  readonly trail: Trail
  readonly #generation: number
  /** Where a linked call keeps its record's ref (`call.attrs`), one key per trail. */
  readonly #refKey: string
  #closed = false

  constructor (cfg: AuditConfig) {
    this.cfg = cfg
    this.trail = Trail.acquire(cfg.dir, { entity: cfg.entity, node: cfg.node }, cfg.settings, cfg.flushMs, cfg.logger)
    this.#generation = this.trail.generation
    filterOpened()
    this.#refKey = 'isthmus.audit.ref:' + this.trail.dir
    // Only the refuse policy puts a hook on the request path.
    if (cfg.refuse === null) this.onRequest = undefined
  }

  onRequest? (call: Call): Verdict {
    const r = this.cfg.refuse
    if (r === null || !this.trail.refusing) return CONTINUE
    if (r.entities !== null) {
      const e = call.caller?.entity
      if (e === undefined || !r.entities.has(e)) return CONTINUE
    }
    auditCounters.refused++
    call.decide({ filter: 'audit', action: 'deny', reason: 'audit spool full' })
    return r.reply
  }

  onLog (call: Call): void {
    const start = Math.round(Date.now() - call.durationMs)
    const json = callJson(call, this.cfg.headers)
    const ref = this.trail.append(start, json, call.eventsExpected)
    if (ref !== 0) (call.attrs ??= new Map()).set(this.#refKey, ref)
    // The console's recent records: a reference to the string just built, nothing more.
    rememberRecord(start, json)
  }

  /** Always after this call's onLog (the core's promise), so its record went first. */
  onEvent (call: Call, event: CallEvent): void {
    const ref = call.attrs?.get(this.#refKey)
    const line = eventLine(call, event, typeof ref === 'number' ? ref : 0, Date.now())
    if (line === null) { auditCounters.refusedEvents++; return }
    this.trail.appendEvent(line)
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    filterClosed()
    this.trail.release(this.#generation)
  }
}
