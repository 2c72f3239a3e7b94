/**
 * `deny`: static deny rules on service, method and headers. The rules compile into
 * predicates and prebuilt local replies (PERMISSION_DENIED / Bolt SERVER_EXCEPTION).
 * Fail closed: a call whose method could not be read (`method === ''`, e.g. a Bolt body the
 * gateway cannot parse) matches every method predicate, so a rule with one denies it.
 */
import { CONTINUE, compileStringMatch, defineFilter, stringMatchSchema, type Call, type Filter, type LocalReply, type StringMatch, type StringMatcher, type Verdict } from '../../gateway/index.js'

export interface DenyRuleOptions {
  name: string
  service?: StringMatch
  method?: StringMatch
  header?: { name: string, value?: string }
  message?: string
}
export interface DenyOptions { rules: DenyRuleOptions[] }

interface DenyRule {
  readonly name: string
  readonly service: StringMatcher
  readonly method: StringMatcher
  readonly header: string | null
  readonly headerValue: string | null
  readonly reply: LocalReply
}
export interface DenyConfig { readonly rules: readonly DenyRule[], readonly denied: { inc(l?: Record<string, string>): void } }

class DenyFilter implements Filter {
  readonly #cfg: DenyConfig
  constructor (cfg: DenyConfig) { this.#cfg = cfg }

  onRequest (call: Call): Verdict {
    const rules = this.#cfg.rules
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]
      if (r.service !== null && !r.service(call.service)) continue
      if (r.method !== null && call.method !== '' && !r.method(call.method)) continue
      if (r.header !== null) {
        const v = call.headers.get(r.header)
        if (v === undefined || (r.headerValue !== null && v !== r.headerValue)) continue
      }
      this.#cfg.denied.inc({ rule: r.name })
      call.decide({ filter: 'deny', action: 'deny', reason: `rule ${r.name}` })
      return r.reply
    }
    return CONTINUE
  }
}

export default defineFilter<DenyOptions, DenyConfig>({
  name: 'deny',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['rules'],
    properties: {
      rules: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1 },
            service: stringMatchSchema,
            method: stringMatchSchema,
            header: {
              type: 'object',
              additionalProperties: false,
              required: ['name'],
              properties: { name: { type: 'string', minLength: 1 }, value: { type: 'string' } },
            },
            message: { type: 'string' },
          },
        },
      },
    },
  },
  compile (o, ctx) {
    const rules = o.rules.map((r, i) => {
      if (r.service === undefined && r.method === undefined && r.header === undefined) {
        throw ctx.invalid('a rule needs service, method or header (a rule matching everything is a mistake)', `/rules/${i}`)
      }
      return Object.freeze({
        name: r.name,
        service: compileStringMatch(r.service),
        method: compileStringMatch(r.method),
        header: r.header?.name.toLowerCase() ?? null,
        headerValue: r.header?.value ?? null,
        reply: ctx.localReply('ISTH_ERR_FILTER_DENIED', `rule ${r.name}`, r.message),
      })
    })
    if (rules.some(r => r.method !== null)) ctx.readsMethod()
    return Object.freeze({ rules: Object.freeze(rules), denied: ctx.counter('denied', 'calls denied by a deny rule', ['rule']) })
  },
  create (cfg) { return new DenyFilter(cfg) },
})
