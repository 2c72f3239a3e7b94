/** HTTP/2 (RFC 9113) frame constants. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
export const FRAME_HEADER = 9
/** Largest frame payload the relay accepts (the protocol default; we do not raise it). */
export const OUR_MAX_FRAME = 16384

export const DATA = 0x0
export const HEADERS = 0x1
export const PRIORITY = 0x2
export const RST_STREAM = 0x3
export const SETTINGS = 0x4
export const PUSH_PROMISE = 0x5
export const PING = 0x6
export const GOAWAY = 0x7
export const WINDOW_UPDATE = 0x8
export const CONTINUATION = 0x9

export const END_STREAM = 0x1
export const ACK = 0x1
export const END_HEADERS = 0x4
export const PADDED = 0x8
export const PRIORITY_FLAG = 0x20

export const S_HEADER_TABLE_SIZE = 0x1
export const S_ENABLE_PUSH = 0x2
export const S_MAX_CONCURRENT_STREAMS = 0x3
export const S_INITIAL_WINDOW_SIZE = 0x4
export const S_MAX_FRAME_SIZE = 0x5

export const NO_ERROR = 0x0
export const PROTOCOL_ERROR = 0x1
export const INTERNAL_ERROR = 0x2
export const FLOW_CONTROL_ERROR = 0x3
export const FRAME_SIZE_ERROR = 0x6
export const REFUSED_STREAM = 0x7
export const CANCEL = 0x8
export const COMPRESSION_ERROR = 0x9

export const MAX_WINDOW = 0x7fffffff
