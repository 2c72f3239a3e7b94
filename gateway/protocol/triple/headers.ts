import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2'

/**
 * Header translation between HTTP/1.1 and HTTP/2 (RFC 9113 8.2.2): connection-specific
 * fields do not exist in HTTP/2, and node refuses to send them
 * (ERR_HTTP2_INVALID_CONNECTION_HEADERS), so they are dropped or mapped, never forwarded.
 */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings'])
/** Between an HTTP/1.1 and an HTTP/2 hop, `te` goes too: on a request to an HTTP/1.1 upstream
 *  `te: trailers` means nothing, and in a response it is never valid. */
const HOP_AND_TE = new Set([...HOP, 'te'])

/**
 * HTTP/1.1 request headers -> HTTP/2 request headers, in place: pseudo-headers from the
 * request line and Host, hop-by-hop fields (and the ones `Connection` names) dropped, `TE`
 * reduced to `trailers` (the only value HTTP/2 allows) or dropped.
 */
export function toH2Request (method: string | undefined, url: string | undefined, h: OutgoingHttpHeaders): void {
  h[':method'] = method ?? 'POST'
  h[':path'] = url ?? '/'
  h[':scheme'] = 'http'
  const host = h.host
  h[':authority'] = typeof host === 'string' && host !== '' ? host : 'localhost'
  const nominated = h.connection
  if (typeof nominated === 'string') {
    for (const name of nominated.split(',')) {
      const k = name.trim().toLowerCase()
      if (k !== '' && k.charCodeAt(0) !== 58 /* : */) delete h[k]
    }
  }
  for (const k of HOP) delete h[k]
  const te = h.te
  if (te !== undefined) {
    if (hasToken(te, 'trailers')) h.te = 'trailers'
    else delete h.te
  }
}

/** Headers crossing between HTTP/1.1 and HTTP/2, either way: pseudo-headers and
 *  connection-specific fields dropped. */
export function http1Headers (h: IncomingHttpHeaders | OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const k of Object.keys(h)) if (k.charCodeAt(0) !== 58 && !HOP_AND_TE.has(k)) out[k] = h[k]
  return out
}

/** A comma-separated header carries `token` (case-insensitive, parameters ignored). */
function hasToken (v: string | number | string[], token: string): boolean {
  const s = Array.isArray(v) ? v.join(',') : String(v)
  for (const part of s.split(',')) {
    const semi = part.indexOf(';')
    if ((semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase() === token) return true
  }
  return false
}

/** Control characters HTTP/2 forbids in field values (RFC 9113 8.2.1). */
const BAD_VALUE = /[\0\r\n]/

/**
 * Throws when a value cannot go on the wire. Node hands such a value to nghttp2, which then
 * tears down the whole session: on a shared upstream session, every call on it. Peers cannot
 * send these (nghttp2 and node's HTTP/1.1 parser refuse them on the way in); only a filter
 * can, so callers check only when a filter changed the headers.
 */
export function assertSendable (h: IncomingHttpHeaders | OutgoingHttpHeaders): void {
  for (const k of Object.keys(h)) {
    const v = h[k]
    if (typeof v === 'string') { if (BAD_VALUE.test(v)) throw new TypeError(`header "${k}" has a control character in its value`) } else if (Array.isArray(v)) {
      for (const e of v) if (BAD_VALUE.test(e)) throw new TypeError(`header "${k}" has a control character in its value`)
    }
  }
}
