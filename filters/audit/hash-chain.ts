import { hash } from 'node:crypto'

/** The hash before the first entry of a trail. */
export const GENESIS = '0'.repeat(64)

/**
 * One link of the chain: h_n = hex(SHA-256(h_{n-1} || canonical(entry_n))), with h_{n-1} as
 * its 64 lower-case hex characters and the entry without its `h` member.
 */
export function chainHash (prev: string, canonicalEntry: string): string {
  return hash('sha256', prev + canonicalEntry, 'hex')
}

/** The written line: the canonical entry with `"h"` appended as its last member, then a newline. */
export function withHash (canonicalEntry: string, h: string): string {
  return canonicalEntry.slice(0, -1) + ',"h":"' + h + '"}\n'
}
