/**
 * `policy` options (the shape of the config file's top-level `policies`, plus `shadow`) and
 * their compiled form: matchers, decisions and replies prebuilt once per revision.
 */
import { compileStringMatch, policiesSchema, type CompileContext, type Decision, type FilterCounter, type JsonSchema, type LocalReply, type PoliciesOptions, type StringMatcher } from '../../gateway/index.js'

export interface PolicyOptions extends PoliciesOptions {
  /** Record decisions but let every call through (dry run). */
  shadow?: boolean
}

export const policySchema: JsonSchema = {
  ...policiesSchema,
  properties: { ...policiesSchema.properties, shadow: { type: 'boolean', default: false } },
}

export interface CompiledRule {
  readonly name: string
  readonly allow: boolean
  /** null: any caller (also none). */
  readonly entity: string | null
  readonly app: string | null
  readonly claims: ReadonlyArray<readonly [string, string]> | null
  readonly service: StringMatcher
  readonly method: StringMatcher
  readonly decision: Decision
  readonly reply: LocalReply
}

export interface PolicyConfig {
  readonly entity: string
  readonly rules: readonly CompiledRule[]
  readonly default: PoliciesOptions['default']
  readonly shadow: boolean
  readonly decisions: {
    readonly allow: Decision
    readonly deny: Decision
    readonly sameEntity: Decision
    readonly noIdentity: Decision
    readonly foreign: Decision
  }
  readonly replies: { readonly deny: LocalReply, readonly noIdentity: LocalReply, readonly foreign: LocalReply }
  readonly stats: FilterCounter
}

function decision (action: 'allow' | 'deny', reason: string): Decision {
  return Object.freeze({ filter: 'policy', action, reason })
}

export function compilePolicy (o: PolicyOptions, ctx: CompileContext): PolicyConfig {
  const names = new Set<string>()
  const rules = o.rules.map((r, i): CompiledRule => {
    if (names.has(r.name)) throw ctx.invalid(`rule name "${r.name}" is used twice`, `/rules/${i}/name`)
    names.add(r.name)
    const anyEntity = r.from?.entity === undefined || r.from.entity === '*'
    const anyApp = r.from?.app === undefined || r.from.app === '*'
    const claims = r.from?.claims === undefined ? null : Object.freeze(Object.entries(r.from.claims))
    const allow = r.action === 'allow'
    return Object.freeze({
      name: r.name,
      allow,
      entity: anyEntity ? null : r.from!.entity!,
      app: anyApp ? null : r.from!.app!,
      claims: claims !== null && claims.length > 0 ? claims : null,
      service: compileStringMatch(r.to?.service),
      method: compileStringMatch(r.to?.method),
      decision: decision(r.action, `rule ${r.name}`),
      reply: ctx.localReply('ISTH_ERR_AUTH_DENIED', `policy rule ${r.name}`),
    })
  })
  if (rules.some(r => r.method !== null)) ctx.readsMethod()
  const e = ctx.entity
  return Object.freeze({
    entity: e,
    rules: Object.freeze(rules),
    default: o.default,
    shadow: o.shadow === true,
    decisions: Object.freeze({
      allow: decision('allow', 'default allow'),
      deny: decision('deny', 'default deny'),
      sameEntity: decision('allow', `default deny-foreign: caller is entity ${e}`),
      noIdentity: decision('deny', 'default deny-foreign: no caller identity'),
      foreign: decision('deny', `default deny-foreign: caller is not entity ${e}`),
    }),
    replies: Object.freeze({
      deny: ctx.localReply('ISTH_ERR_AUTH_DENIED', 'no policy rule allows this call (default deny)'),
      noIdentity: ctx.localReply('ISTH_ERR_AUTH_DENIED', `no caller identity (default deny-foreign: only entity ${e} without a rule)`),
      foreign: ctx.localReply('ISTH_ERR_AUTH_DENIED', `caller is not entity ${e} and no policy rule allows it (default deny-foreign)`),
    }),
    stats: ctx.counter('decisions', 'authorization decisions by action', ['action']),
  })
}
