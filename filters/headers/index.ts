/**
 * `headers`: set and remove request and response headers (Triple metadata or Bolt header
 * map). Mostly a proof of the filter API; also handy to stamp the gateway's entity.
 */
import { CONTINUE, defineFilter, type Call, type Filter, type Verdict } from '../../gateway/index.js'

export interface HeadersOptions {
  request?: { set?: Record<string, string>, remove?: string[] }
  response?: { set?: Record<string, string>, remove?: string[] }
}

interface Edit { readonly set: ReadonlyArray<readonly [string, string]>, readonly remove: readonly string[] }
export interface HeadersConfig { readonly request: Edit | null, readonly response: Edit | null }

const editSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    set: { type: 'object', additionalProperties: { type: 'string' } },
    remove: { type: 'array', items: { type: 'string', minLength: 1 } },
  },
} as const

// Pseudo-headers and framing headers belong to the gateway, never to a filter.
const RESERVED = /^(:|content-length$|transfer-encoding$|connection$|te$|grpc-status$)/i

function compileEdit (e: HeadersOptions['request'], path: string, invalid: (m: string, p: string) => Error): Edit | null {
  if (e === undefined) return null
  const set = Object.entries(e.set ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const)
  for (const [k] of set) if (RESERVED.test(k)) throw invalid(`header "${k}" cannot be set by a filter`, `${path}/set/${k}`)
  const remove = (e.remove ?? []).map(k => k.toLowerCase())
  for (const k of remove) if (RESERVED.test(k)) throw invalid(`header "${k}" cannot be removed by a filter`, `${path}/remove`)
  if (set.length === 0 && remove.length === 0) return null
  return Object.freeze({ set: Object.freeze(set), remove: Object.freeze(remove) })
}

function apply (edit: Edit, h: Call['headers']): void {
  for (let i = 0; i < edit.remove.length; i++) h.delete(edit.remove[i])
  for (let i = 0; i < edit.set.length; i++) h.set(edit.set[i][0], edit.set[i][1])
}

class HeadersFilter implements Filter {
  readonly #cfg: HeadersConfig
  constructor (cfg: HeadersConfig) {
    this.#cfg = cfg
    // Only expose the hooks that have work, so empty phases stay null in the chain.
    if (cfg.request === null) this.onRequest = undefined
    if (cfg.response === null) this.onResponse = undefined
  }

  onRequest?: (call: Call) => Verdict = (call) => {
    apply(this.#cfg.request as Edit, call.headers)
    return CONTINUE
  }

  onResponse?: (call: Call) => Verdict = (call) => {
    if (call.responseHeaders !== null) apply(this.#cfg.response as Edit, call.responseHeaders)
    return CONTINUE
  }
}

export default defineFilter<HeadersOptions, HeadersConfig>({
  name: 'headers',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { request: editSchema, response: editSchema },
  },
  compile (o, ctx) {
    return Object.freeze({
      request: compileEdit(o.request, '/request', ctx.invalid),
      response: compileEdit(o.response, '/response', ctx.invalid),
    })
  },
  create (cfg) { return new HeadersFilter(cfg) },
})
