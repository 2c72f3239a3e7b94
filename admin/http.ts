/**
 * Small HTTP helpers for the admin API: JSON replies, the error envelope and a bounded body
 * reader. Errors are `{ "error": { "code", "message", "path" } }` with the status of the code.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ERRORS, IsthmusError, type ErrorCode } from '../gateway/errors.js'

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

export function sendError (res: ServerResponse, err: unknown, extraHeaders?: Record<string, string>): void {
  let code: ErrorCode = 'ISTH_ERR_INTERNAL'
  let message = 'internal error'
  let path: string | undefined
  if (err instanceof IsthmusError) {
    code = err.code
    message = err.message
    path = err.path
  } else if (err instanceof Error) {
    message = `internal error: ${err.message}`
  }
  const status = ERRORS[code].http > 0 ? ERRORS[code].http : 500
  if (extraHeaders !== undefined) for (const k in extraHeaders) res.setHeader(k, extraHeaders[k])
  const error: { code: string, message: string, path?: string } = { code, message }
  if (path !== undefined) error.path = path
  sendJson(res, status, { error })
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
  const text = Buffer.concat(chunks, size).toString('utf8')
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `/: body is not valid JSON (${(err as Error).message})`, '/')
  }
}
