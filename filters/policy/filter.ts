/**
 * `policy`: ordered allow/deny rules from the caller (entity, app, claims) to the target
 * (service, method); the first matching rule decides, else the default. Every decision goes
 * on the call (for the audit). Sync, no allocation beyond the call's decisions array.
 */
import { CONTINUE, type Call, type Decision, type Filter, type LocalReply, type Verdict } from '../../gateway/index.js'
import type { CompiledRule, PolicyConfig } from './config.js'

// Label objects built once: no allocation per decision.
const L_ALLOW = Object.freeze({ action: 'allow' })
const L_DENY = Object.freeze({ action: 'deny' })
const L_SHADOW = Object.freeze({ action: 'shadow-deny' })

export class PolicyFilter implements Filter {
  readonly #cfg: PolicyConfig

  constructor (cfg: PolicyConfig) { this.#cfg = cfg }

  onRequest (call: Call): Verdict {
    const c = this.#cfg
    const rules = c.rules
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]
      if (!matches(r, call)) continue
      return this.#decide(call, r.decision, r.allow ? null : r.reply)
    }
    switch (c.default) {
      case 'allow': return this.#decide(call, c.decisions.allow, null)
      case 'deny': return this.#decide(call, c.decisions.deny, c.replies.deny)
      default: {
        const caller = call.caller
        if (caller === null || caller.entity === undefined) return this.#decide(call, c.decisions.noIdentity, c.replies.noIdentity)
        if (caller.entity === c.entity) return this.#decide(call, c.decisions.sameEntity, null)
        return this.#decide(call, c.decisions.foreign, c.replies.foreign)
      }
    }
  }

  #decide (call: Call, d: Decision, deny: LocalReply | null): Verdict {
    call.decide(d)
    this.#cfg.stats.inc(deny === null ? L_ALLOW : this.#cfg.shadow ? L_SHADOW : L_DENY)
    if (deny === null || this.#cfg.shadow) return CONTINUE
    return deny
  }
}

function matches (r: CompiledRule, call: Call): boolean {
  if (r.service !== null && !r.service(call.service)) return false
  // A method that could not be read ('') fails closed: no allow rule with a method matcher
  // allows it, every deny rule with one denies it.
  if (r.method !== null && (call.method === '' ? r.allow : !r.method(call.method))) return false
  if (r.entity === null && r.app === null && r.claims === null) return true
  const caller = call.caller
  if (caller === null) return false
  if (r.entity !== null && caller.entity !== r.entity) return false
  if (r.app !== null && caller.app !== r.app) return false
  if (r.claims !== null) {
    const claims = caller.claims
    if (claims === undefined) return false
    for (let i = 0; i < r.claims.length; i++) {
      const [k, v] = r.claims[i]
      const got = claims[k]
      // A list claim (roles, groups) matches when it contains the value.
      if (Array.isArray(got) ? !got.includes(v) : String(got) !== v) return false
    }
  }
  return true
}
