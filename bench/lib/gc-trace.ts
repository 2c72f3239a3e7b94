/**
 * Counts the GC pauses a child run with `node --trace-gc` prints on stdout, only while
 * `counting` is on (the load window of a profile run).
 */
import type { Child } from './proc.js'

export interface GcCounts { scavenges: number, scavengeMs: number, markCompacts: number, markCompactMs: number }

// "[pid:0x..]   1234 ms: Scavenge 5.1 (6.2) -> 4.3 (7.2) MB, 0.78 / 0.00 ms  (...)"
const GC_LINE = /ms: (Scavenge|Mark-Compact|Mark-sweep)[^,]*, ([\d.]+) \/ ([\d.]+) ms/

export class GcTrace {
  readonly counts: GcCounts = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 }
  counting = false
  #partial = ''

  constructor (child: Child) {
    child.proc.stdout!.on('data', (d: Buffer) => { this.#take(d) })
  }

  #take (d: Buffer): void {
    const lines = (this.#partial + d.toString()).split('\n')
    this.#partial = lines.pop() ?? ''
    if (!this.counting) return
    const c = this.counts
    for (const line of lines) {
      const m = GC_LINE.exec(line)
      if (m === null) continue
      if (m[1] === 'Scavenge') { c.scavenges++; c.scavengeMs += Number(m[2]) } else { c.markCompacts++; c.markCompactMs += Number(m[2]) }
    }
  }
}
