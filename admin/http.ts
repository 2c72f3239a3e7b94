/**
 * Small HTTP helpers for the admin API: JSON replies, the error envelope and a bounded body
 * reader. Errors are `{ "error": { "code", "message", "path" } }` with the status of the code.
 * Internal errors (5xx) never reach the client: the server logs them once, with a reference
 * the reply carries instead of the message.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { JSON_BODY_BOUNDS, jsonDepthExceeds } from '../gateway/config/value-bounds.js'
import { ERRORS, IsthmusError, type ErrorCode } from '../gateway/errors.js'

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

/** What a client may see of an error: client errors as they are, anything else generic. */
export interface PublicError { status: number, code: ErrorCode, message: string, path?: string, internal: boolean }

export function publicError (err: unknown): PublicError {
  if (err instanceof IsthmusError) {
    const status = ERRORS[err.code].http > 0 ? ERRORS[err.code].http : 500
    if (status < 500 || err.code === 'ISTH_ERR_GATEWAY_DRAINING' || err.code === 'ISTH_ERR_WORKER_APPLY') {
      const e: PublicError = { status, code: err.code, message: err.message, internal: false }
      if (err.path !== undefined) e.path = err.path
      return e
    }
    return { status, code: err.code, message: ERRORS[err.code].message.replace('%s', 'see the gateway log'), internal: true }
  }
  return { status: 500, code: 'ISTH_ERR_INTERNAL', message: 'internal error: see the gateway log', internal: true }
}

/** Send the error envelope. `ref` (internal errors) ties the reply to the log line. */
export function sendError (res: ServerResponse, err: unknown, extraHeaders?: Record<string, string>, ref?: string): void {
  const p = publicError(err)
  if (extraHeaders !== undefined) for (const k in extraHeaders) res.setHeader(k, extraHeaders[k])
  const error: { code: string, message: string, path?: string } = { code: p.code, message: p.internal && ref !== undefined ? `${p.message} (ref ${ref})` : p.message }
  if (p.path !== undefined) error.path = p.path
  sendJson(res, p.status, { error })
}

/**
 * `err` as a body error about one resource: an invalid-config error then reads
 * "invalid app payments: /instances/0/port: must be <= 65535" (same code, path and status).
 */
export function renamed (err: unknown, what: string): unknown {
  if (!(err instanceof IsthmusError) || err.code !== 'ISTH_ERR_CONFIG_INVALID') return err
  const e = new IsthmusError(err.code, err.detail, err.path, { cause: err })
  e.message = `invalid ${what}: ${err.detail}`
  return e
}

/** `application/json`, with or without parameters (`; charset=utf-8`). */
export function isJsonMediaType (contentType: string): boolean {
  const i = contentType.indexOf(';')
  return (i < 0 ? contentType : contentType.slice(0, i)).trim().toLowerCase() === 'application/json'
}

/**
 * Refuse (415) a write whose body is not declared JSON: a form or `text/plain` body is what a
 * web page can send without a CORS preflight. A write without a body needs no content type.
 */
export function checkMediaType (req: IncomingMessage): void {
  const ct = req.headers['content-type']
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  if (ct === undefined ? !hasBody : isJsonMediaType(ct)) return
  req.resume()
  throw new IsthmusError('ISTH_ERR_ADMIN_MEDIA_TYPE', ct === undefined ? 'a body needs content-type: application/json' : `content-type ${JSON.stringify(ct.slice(0, 80))}: writes take application/json`)
}

/** Read a JSON body, refusing (413) past `limit` bytes without buffering the rest. */
export async function readJsonBody (req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume()
    throw new IsthmusError('ISTH_ERR_ADMIN_BODY_TOO_LARGE', `${declared} bytes > ${limit}`)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      req.resume()
      throw new IsthmusError('ISTH_ERR_ADMIN_BODY_TOO_LARGE', `more than ${limit} bytes`)
    }
    chunks.push(chunk)
  }
  if (size === 0) return undefined
  const bytes = Buffer.concat(chunks, size)
  // Nesting no schema needs (deep enough to overflow JSON.stringify later) is refused first.
  if (jsonDepthExceeds(bytes, JSON_BODY_BOUNDS.maxDepth)) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/: body nests deeper than ${JSON_BODY_BOUNDS.maxDepth} levels`, '/')
  }
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown
  } catch (err) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/: body is not valid JSON (${(err as Error).message})`, '/')
  }
}
