import { GrpcStatus } from '../../errors.js'

/** HTTP status of a Triple unary (or plain HTTP) response -> gRPC status, as grpc-go maps it. */
export function grpcStatusFromHttp (status: number): number {
  if (status >= 200 && status < 300) return GrpcStatus.OK
  switch (status) {
    case 400: return GrpcStatus.INTERNAL
    case 401: return GrpcStatus.UNAUTHENTICATED
    case 403: return GrpcStatus.PERMISSION_DENIED
    case 404: return GrpcStatus.UNIMPLEMENTED
    case 429: case 502: case 503: case 504: return GrpcStatus.UNAVAILABLE
    default: return GrpcStatus.UNKNOWN
  }
}
