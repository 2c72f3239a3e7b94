/**
 * HPACK Huffman decoding (RFC 7541 Appendix B). The code is canonical, so only the code length
 * of each symbol is listed; the codes follow from the lengths (ascending length, then symbol).
 * Decoding reads 8 bits at a time through a 256-entry table for the codes of 8 bits or fewer
 * (every character of a typical gRPC path), and falls back to a canonical walk for longer codes.
 */

/** Code length in bits of symbols 0..255 and EOS (256). */
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
]

const MAX_LEN = 30
/** Symbols sorted by (length, symbol): canonical order. */
const SORTED = new Uint16Array(257)
/** First canonical code of each length, and where that length's symbols start in SORTED. */
const FIRST_CODE = new Uint32Array(MAX_LEN + 2)
const FIRST_INDEX = new Uint16Array(MAX_LEN + 2)
const COUNT = new Uint16Array(MAX_LEN + 2)
/** Per symbol: its code (for the self-check and the table). */
const CODE = new Uint32Array(257)
/** 8-bit lookahead: symbol + 1 (0: no code of <= 8 bits starts so) and its length. */
const FAST_SYM = new Uint16Array(256)
const FAST_LEN = new Uint8Array(256)

function build (): void {
  if (LENGTHS.length !== 257) throw new Error('huffman: 257 code lengths expected')
  for (const l of LENGTHS) COUNT[l]++
  let code = 0
  let idx = 0
  for (let len = 1; len <= MAX_LEN; len++) {
    FIRST_CODE[len] = code
    FIRST_INDEX[len] = idx
    for (let s = 0; s < 257; s++) if (LENGTHS[s] === len) { SORTED[idx++] = s; CODE[s] = code++ }
    code <<= 1
  }
  // Spot checks against the RFC's listed codes: a wrong length above shifts every later code.
  const want: Array<[number, number]> = [[0, 0x1ff8], [32, 0x14], [97, 0x3], [92, 0x7fff0], [127, 0xffffffc], [200, 0x3ffffe2], [255, 0x3ffffee], [256, 0x3fffffff]]
  for (const [s, c] of want) if (CODE[s] !== c) throw new Error(`huffman: code of ${s} is ${CODE[s].toString(16)}, not ${c.toString(16)}`)
  for (let s = 0; s < 256; s++) {
    const l = LENGTHS[s]
    if (l > 8) continue
    const base = CODE[s] << (8 - l)
    for (let k = 0; k < 1 << (8 - l); k++) { FAST_SYM[base + k] = s + 1; FAST_LEN[base + k] = l }
  }
}
build()

const scratch = Buffer.allocUnsafe(4096)

/**
 * Decode `src[start, end)`; null if malformed (EOS inside, padding longer than 7 bits or not
 * all ones). Output goes through one module scratch buffer: no allocation but the string.
 */
export function huffmanDecode (src: Buffer, start: number, end: number): string | null {
  let out = scratch
  let n = 0
  let acc = 0 // bit accumulator, `bits` valid low bits
  let bits = 0
  let i = start
  for (;;) {
    while (bits < 8 && i < end) { acc = ((acc << 8) | src[i++]) >>> 0; bits += 8; if (bits > 24) break }
    if (bits === 0) break
    if (n + 1 > out.length) { const bigger = Buffer.allocUnsafe(out.length * 2); out.copy(bigger, 0, 0, n); out = bigger }
    if (bits >= 8) {
      const top = (acc >>> (bits - 8)) & 0xff
      const sym = FAST_SYM[top]
      if (sym !== 0) { out[n++] = sym - 1; bits -= FAST_LEN[top]; acc &= (1 << bits) - 1; continue }
    }
    // Slow path: walk canonical lengths bit by bit (long codes, or the last < 8 bits).
    let code = 0
    let len = 0
    let found = -1
    while (len < MAX_LEN) {
      if (bits === 0) {
        if (i >= end) break
        acc = src[i++]; bits = 8
      }
      bits--
      code = (code << 1) | ((acc >>> bits) & 1)
      acc &= (1 << bits) - 1
      len++
      const off = code - FIRST_CODE[len]
      if (COUNT[len] > 0 && off >= 0 && off < COUNT[len]) { found = SORTED[FIRST_INDEX[len] + off]; break }
    }
    if (found === -1) {
      // Ran out of input: what is left must be padding, at most 7 bits, all ones.
      if (len > 7 || code !== (1 << len) - 1) return null
      break
    }
    if (found === 256) return null
    out[n++] = found
  }
  return out.toString('latin1', 0, n)
}
