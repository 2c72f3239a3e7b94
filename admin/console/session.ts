/**
 * Browser sessions of the console: a login with the admin token gets a random session id
 * (32 bytes from the CSPRNG) in an HttpOnly, SameSite=Strict cookie (Secure on a TLS admin).
 * The table is bounded (the oldest session goes first) and each session expires; a session
 * only ever authenticates reads (admin/console/mount.ts), so a stolen cookie cannot write.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export const SESSION_COOKIE = 'isthmus_console'
export const DEFAULT_MAX_SESSIONS = 64
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000

export class SessionTable {
  readonly max: number
  readonly ttlMs: number
  /** id -> expiry (epoch ms); insertion order is age. */
  readonly #sessions = new Map<string, number>()

  constructor (max = DEFAULT_MAX_SESSIONS, ttlMs = DEFAULT_SESSION_TTL_MS) {
    this.max = max
    this.ttlMs = ttlMs
  }

  create (now = Date.now()): string {
    this.#sweep(now)
    while (this.#sessions.size >= this.max) {
      const oldest = this.#sessions.keys().next().value
      if (oldest === undefined) break
      this.#sessions.delete(oldest)
    }
    const id = randomBytes(32).toString('base64url')
    this.#sessions.set(id, now + this.ttlMs)
    return id
  }

  valid (id: string, now = Date.now()): boolean {
    const exp = this.#sessions.get(id)
    if (exp === undefined) return false
    if (exp <= now) { this.#sessions.delete(id); return false }
    return true
  }

  delete (id: string): void { this.#sessions.delete(id) }

  get size (): number { return this.#sessions.size }

  #sweep (now: number): void {
    for (const [id, exp] of this.#sessions) if (exp <= now) this.#sessions.delete(id)
  }
}

/** The session id of the request's console cookie, or null. */
export function sessionCookie (req: IncomingMessage): string | null {
  const header = req.headers.cookie
  if (header === undefined) return null
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i < 0) continue
    if (part.slice(0, i).trim() === SESSION_COOKIE) {
      const v = part.slice(i + 1).trim()
      return /^[A-Za-z0-9_-]{43}$/.test(v) ? v : null
    }
  }
  return null
}

/** The Set-Cookie value of a new session (`maxAgeMs` 0 clears it). */
export function setCookieValue (id: string, secure: boolean, maxAgeMs: number): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure ? '; Secure' : ''}`
}
