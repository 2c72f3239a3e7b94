/**
 * Bolt wire constants (PROTOCOLS.md): protocol codes, command types and codes, field
 * offsets per version and fixed header sizes. Big-endian; lengths are signed.
 */
export { BoltStatus } from '../../errors.js'

export const BoltProto = { V1: 0x01, V2: 0x02 } as const

export const BoltType = { RESPONSE: 0, REQUEST: 1, ONEWAY: 2 } as const

export const BoltCmd = { HEARTBEAT: 0, REQUEST: 1, RESPONSE: 2, GOAWAY: 100 } as const

export const BoltCodec = { HESSIAN2: 1, PROTOBUF: 11 } as const

/** Fixed header sizes in bytes. */
export const V1_REQUEST_HEADER = 22
export const V1_RESPONSE_HEADER = 20
export const V2_REQUEST_HEADER = 24
export const V2_RESPONSE_HEADER = 22
/** The most bytes needed to know a frame's total length. */
export const MAX_FIXED_HEADER = 24
export const CRC_BYTES = 4

/** Offset of the request id: 5 in v1, 6 in v2 (ver1 shifts everything after proto). */
export function requestIdOffset (proto: number): number { return proto === BoltProto.V2 ? 6 : 5 }

export const SOFA_REQUEST_CLASS = 'com.alipay.sofa.rpc.core.request.SofaRequest'
export const SOFA_RESPONSE_CLASS = 'com.alipay.sofa.rpc.core.response.SofaResponse'
export const RPC_SERVER_EXCEPTION_CLASS = 'com.alipay.remoting.rpc.exception.RpcServerException'

/** Header-map keys the gateway reads. */
export const HEADER_SERVICE = 'service'
export const HEADER_TARGET_SERVICE = 'sofa_head_target_service'
export const HEADER_METHOD = 'sofa_head_method_name'

export interface BoltLimitsConfig {
  readonly maxFrameBytes: number
  readonly maxHeaderEntries: number
  readonly maxHeaderBytes: number
  readonly maxClassNameBytes: number
}

export const DEFAULT_BOLT_LIMITS: BoltLimitsConfig = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  maxHeaderEntries: 256,
  maxHeaderBytes: 65536,
  maxClassNameBytes: 256,
})
