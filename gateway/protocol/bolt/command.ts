import { BoltCmd, BoltProto, BoltType, CRC_BYTES } from './types.js'

/**
 * One decoded Bolt frame: the fixed-header fields plus a view of the raw bytes. `buf` is a
 * slice of what the socket delivered (no copy when the frame arrived in one read), spanning
 * the whole frame including any CRC, so a forwarder can write it as is.
 */
export class BoltFrame {
  constructor (
    /** Raw frame bytes (fixed header, class, header map, content, CRC). */
    readonly buf: Buffer,
    readonly proto: number,
    /** v2 ver1 byte (1 or 2); 0 for v1. */
    readonly ver1: number,
    readonly type: number,
    readonly cmd: number,
    public requestId: number,
    readonly codec: number,
    /** v2 switch byte; 0 for v1. */
    readonly switchByte: number,
    /** Request: timeout in ms. Response: 0. */
    readonly timeout: number,
    /** Response: status. Request: -1. */
    readonly status: number,
    readonly classLen: number,
    readonly headerLen: number,
    readonly contentLen: number,
    /** Size of the fixed header. */
    readonly fixedLen: number,
    readonly hasCrc: boolean,
  ) {}

  get isRequest (): boolean { return this.type !== BoltType.RESPONSE }
  get isOneway (): boolean { return this.type === BoltType.ONEWAY }
  get isHeartbeat (): boolean { return this.cmd === BoltCmd.HEARTBEAT }
  get isV2 (): boolean { return this.proto === BoltProto.V2 }
  get classStart (): number { return this.fixedLen }
  get headerStart (): number { return this.fixedLen + this.classLen }
  get contentStart (): number { return this.fixedLen + this.classLen + this.headerLen }
  /** End of content (start of the CRC, if any). */
  get contentEnd (): number { return this.buf.length - (this.hasCrc ? CRC_BYTES : 0) }

  className (): string { return this.buf.toString('latin1', this.fixedLen, this.fixedLen + this.classLen) }
  content (): Buffer { return this.buf.subarray(this.contentStart, this.contentEnd) }
  headerBytes (): Buffer { return this.buf.subarray(this.headerStart, this.contentStart) }
}
