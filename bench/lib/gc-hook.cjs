// Preloaded into a benchmarked gateway (node --expose-gc --require bench/lib/gc-hook.cjs; the
// cluster workers inherit both flags): on SIGUSR2, a full GC, then the heap used is written to
// $ISTHMUS_BENCH_HEAP_DIR/heap-<pid>. Bench-only: the gateway itself has no GC trigger, and
// its heap metric without a GC first is noise of the size of what is measured.
'use strict'
const { writeFileSync, renameSync } = require('node:fs')
const { join } = require('node:path')
const dir = process.env.ISTHMUS_BENCH_HEAP_DIR
if (dir !== undefined && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc()
    const f = join(dir, `heap-${process.pid}`)
    writeFileSync(f + '.tmp', String(process.memoryUsage().heapUsed))
    renameSync(f + '.tmp', f)
  })
}
