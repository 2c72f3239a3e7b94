import { crc32 } from 'node:zlib'

/** CRC-32 (zlib/IEEE) of `buf[start, end)`, as Bolt v2 appends it. */
export function boltCrc (buf: Buffer, start: number, end: number): number {
  return crc32(buf.subarray(start, end)) >>> 0
}
