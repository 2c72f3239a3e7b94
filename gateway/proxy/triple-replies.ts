import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2'
import { LocalReply, localReplyFor } from '../chain/local-reply.js'
import { GrpcStatus } from '../errors.js'
import { grpcStatusFromHttp } from '../protocol/triple/mapping.js'
import type { TripleCall } from './triple-call.js'

/** The gateway's own Triple replies, shared by the HTTP/2 and HTTP/1.1 upstream paths. */
export const BAD_PATH = new LocalReply('ISTH_ERR_TRIPLE_BAD_REQUEST', ':path must be /<service>/<method>')
export const DEADLINE_BEFORE_SEND = new LocalReply('ISTH_ERR_DEADLINE_EXCEEDED', 'the caller\'s deadline passed in the gateway')
export const INTERNAL = new LocalReply('ISTH_ERR_INTERNAL', 'the gateway failed this call (logged)')

export function upstreamTimeout (call: TripleCall): LocalReply {
  return localReplyFor('ISTH_ERR_UPSTREAM_TIMEOUT', `route ${call.route?.name ?? '?'}`)
}
export function upstreamReset (code: number): LocalReply {
  return localReplyFor('ISTH_ERR_UPSTREAM_RESET', `HTTP/2 error code ${code}`)
}
/** Says why, as Bolt does: `host: getaddrinfo ENOTFOUND ...`, `connect ECONNREFUSED ...`. */
export function upstreamConnect (host: string, reason: string): LocalReply {
  return localReplyFor('ISTH_ERR_UPSTREAM_CONNECT', `${host}: ${reason}`)
}
export function upstreamOverloaded (host: string): LocalReply {
  return localReplyFor('ISTH_ERR_UPSTREAM_OVERLOADED', `${host}: every HTTP/2 session is at its stream cap and the wait for a slot is over`)
}
export function protocolMismatch (cluster: string, protocol: string): LocalReply {
  return localReplyFor('ISTH_ERR_ROUTE_PROTOCOL_MISMATCH', `cluster ${cluster}, which speaks ${protocol}; a Triple call cannot be sent there`)
}

export function unaryErrorBody (reply: LocalReply): string {
  return JSON.stringify({ status: reply.grpcStatus, message: reply.message })
}

/** gRPC status from trailers (or Trailers-Only headers); HTTP status mapped for Triple unary. */
export function statusOf (call: TripleCall, h: IncomingHttpHeaders | OutgoingHttpHeaders): number {
  const g = h['grpc-status']
  if (g !== undefined) return Number(g)
  if (call.grpc) return GrpcStatus.UNKNOWN
  const s = call.responseHeaders?.get(':status')
  return grpcStatusFromHttp(s === undefined ? 200 : Number(s))
}
