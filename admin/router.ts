import { IsthmusError } from '../gateway/errors.js'

/**
 * A tiny method + path router for the admin API. Patterns are `/v1/clusters/:name/hosts`;
 * a path that matches with another method answers 405 (mutations only on POST/PUT/PATCH/
 * DELETE, reads only on GET).
 */
export interface AdminRequest {
  readonly method: string
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
  /** Parsed JSON body (mutations only); undefined when empty. */
  readonly body: unknown
  /** Who asks (admin/console/principal.ts): `token`, `cert <identity>`, `session`, `loopback`. */
  readonly principal: string
}

export interface AdminReply {
  readonly status: number
  readonly body: unknown
  /** A streaming reply (GET /v1/events): the server hands it the response instead of `body`. */
  readonly stream?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void
}

export type AdminHandler = (req: AdminRequest) => AdminReply | Promise<AdminReply>

interface Entry { method: string, pattern: string, re: RegExp, names: string[], handler: AdminHandler }

export type RouteMatch =
  | { kind: 'found', handler: AdminHandler, params: Record<string, string> }
  | { kind: 'method', allowed: string[] }
  | { kind: 'none' }

export class AdminRouter {
  readonly #entries: Entry[] = []

  add (method: string, pattern: string, handler: AdminHandler): this {
    const names: string[] = []
    const src = pattern.split('/').map(seg => {
      if (seg.startsWith(':')) { names.push(seg.slice(1)); return '([^/]+)' }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    }).join('/')
    this.#entries.push({ method, pattern, re: new RegExp(`^${src}/?$`), names, handler })
    return this
  }

  /** Every route (method and pattern) in registration order: what the OpenAPI document lists. */
  list (): Array<{ method: string, pattern: string }> {
    return this.#entries.map(e => ({ method: e.method, pattern: e.pattern }))
  }

  match (method: string, path: string): RouteMatch {
    const allowed: string[] = []
    for (const e of this.#entries) {
      const m = e.re.exec(path)
      if (m === null) continue
      if (e.method !== method && !(method === 'HEAD' && e.method === 'GET')) { allowed.push(e.method); continue }
      const params: Record<string, string> = {}
      for (let i = 0; i < e.names.length; i++) params[e.names[i]] = decodeParam(m[i + 1])
      return { kind: 'found', handler: e.handler, params }
    }
    return allowed.length > 0 ? { kind: 'method', allowed } : { kind: 'none' }
  }
}

/** A path segment with its %-escapes decoded; a malformed escape is the client's error (400). */
function decodeParam (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new IsthmusError('ISTH_ERR_ADMIN_BAD_REQUEST', `malformed %-escape in path segment ${JSON.stringify(segment.slice(0, 80))}`, '/')
  }
}
