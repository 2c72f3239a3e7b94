import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { TripleListenerOptions } from '../config/options.js'
import type { TripleTrips } from './h2-session-guard.js'

const kBusy = Symbol('isthmus.busy')
/** A request's headers arrived and its body has not ended yet (which bound a timeout trips). */
const kReading = Symbol('isthmus.reading')
/** HTTP/1.1 sockets handed to a server that never listens are not tracked by node
 *  (closeIdleConnections does nothing), so the listener counts requests in flight itself. */
export type H1Socket = Socket & { [kBusy]: number, [kReading]?: boolean }
export const H1 = { kBusy } as const

const TIMEOUT_408 = 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'
const BAD_400 = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'

/**
 * The HTTP/1.1 server of the Triple listener (Triple unary over HTTP/1.1). It never listens:
 * the front server hands it connections. Node's own bounds are used, and made to run:
 * `headersTimeout` / `requestTimeout` (checked by an interval node starts on 'listening',
 * which a server that never listens never gets: emitted here by hand), and `keepAliveTimeout`
 * as the idle bound between requests. Each trip is counted.
 */
export function createHttp1Server (options: Readonly<TripleListenerOptions>, trips: TripleTrips, checkMs: number,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void): http.Server {
  const lim = options.limits
  const server = http.createServer({
    maxHeaderSize: options.http2.maxHeaderListSize,
    // node refuses headersTimeout > requestTimeout
    headersTimeout: Math.min(lim.headersTimeoutMs, lim.requestTimeoutMs),
    requestTimeout: lim.requestTimeoutMs,
    keepAliveTimeout: lim.idleTimeoutMs,
    connectionsCheckingInterval: checkMs,
  })
  server.on('request', onRequestStart)
  server.on('request', onRequest)
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    if (socket.destroyed) return
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // Headers incomplete, or a request whose body did not arrive in time (its response
      // may already be out: an upstream can answer before the body ends).
      const reading = (socket as H1Socket)[kReading] === true
      ;(reading ? trips.request : trips.headers).n++
      if (!reading && ((socket as H1Socket)[kBusy] ?? 0) === 0) socket.write(TIMEOUT_408)
      socket.destroy()
      return
    }
    // Flush the 400, then close: a client that never closes its side must not keep the socket.
    socket.end(BAD_400, () => { socket.destroy() })
  })
  // keepAliveTimeout expired with no request in flight.
  server.on('timeout', (socket: Socket) => { trips.idle.n++; socket.destroy() })
  server.emit('listening')
  return server
}

function onRequestStart (req: IncomingMessage): void {
  (req.socket as H1Socket)[kReading] = true
  req.on('end', onRequestEnd)
}

function onRequestEnd (this: IncomingMessage): void { (this.socket as H1Socket)[kReading] = false }
