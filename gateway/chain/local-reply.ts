import { ERRORS, formatMessage, type ErrorCode } from '../errors.js'

// A registry-wide symbol: a user filter built against another installed copy of the package
// returns that copy's LocalReply, and the runner's `instanceof LocalReply` must still match it.
const BRAND = Symbol.for('isthmus.local-reply')

/**
 * A reply the gateway sends itself instead of forwarding (deny, limited, no route...).
 * Built once at compile time and reused for every call it ends; the protocol drivers
 * map it to a gRPC status (Triple) or a Bolt response status.
 */
export class LocalReply {
  readonly code: ErrorCode
  readonly message: string
  readonly grpcStatus: number
  readonly boltStatus: number
  readonly httpStatus: number
  readonly [BRAND] = true
  /** Prebuilt Trailers-Only headers for Triple, made on first use and then shared. */
  #tripleHeaders: Readonly<Record<string, string | number>> | null = null

  constructor (code: ErrorCode, detail: string, message?: string) {
    const spec = ERRORS[code]
    this.code = code
    this.message = message ?? formatMessage(code, detail)
    this.grpcStatus = spec.grpc
    this.boltStatus = spec.bolt
    this.httpStatus = spec.http
  }

  get tripleHeaders (): Readonly<Record<string, string | number>> {
    if (this.#tripleHeaders === null) {
      this.#tripleHeaders = Object.freeze({
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(this.grpcStatus),
        'grpc-message': encodeGrpcMessage(this.message),
      })
    }
    return this.#tripleHeaders
  }

  /** Matches replies from another copy of the package (see BRAND), as IsthmusError does. */
  static [Symbol.hasInstance] (value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
  }
}

const shared = new Map<string, LocalReply>()

/**
 * The LocalReply for an outcome whose detail is known only per call (no route for service X,
 * no host in cluster Y): built once per (code, detail) and reused. Bounded, because details
 * come from callers.
 */
export function localReplyFor (code: ErrorCode, detail: string): LocalReply {
  const key = code + '\u0000' + detail
  let r = shared.get(key)
  if (r === undefined) {
    if (shared.size >= 4096) shared.clear()
    r = new LocalReply(code, detail)
    shared.set(key, r)
  }
  return r
}

/** grpc-message is percent-encoded (gRPC HTTP/2 spec): printable ASCII except '%' stays. */
export function encodeGrpcMessage (message: string): string {
  let plain = true
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x25) { plain = false; break }
  }
  if (plain) return message
  const bytes = Buffer.from(message, 'utf8')
  let out = ''
  for (const b of bytes) {
    out += (b < 0x20 || b > 0x7e || b === 0x25) ? '%' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b)
  }
  return out
}
