// Preloaded into a benchmarked gateway (node --expose-gc --require bench/lib/gc-hook.cjs; the
// cluster workers inherit both flags): on SIGUSR2, a full GC, then the heap used is written to
// $ISTHMUS_BENCH_HEAP_DIR/heap-<pid>. Bench-only: the gateway itself has no GC trigger, and
// its heap metric without a GC first is noise of the size of what is measured. With
// $ISTHMUS_BENCH_SNAPSHOT set (bench/conn-heap-snapshot.ts), a heap snapshot is written first,
// to $ISTHMUS_BENCH_HEAP_DIR/snap-<pid>-<n>.heapsnapshot.
'use strict'
const { writeFileSync, renameSync } = require('node:fs')
const { join } = require('node:path')
const dir = process.env.ISTHMUS_BENCH_HEAP_DIR
let snaps = 0
if (dir !== undefined && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc()
    if (process.env.ISTHMUS_BENCH_SNAPSHOT === '1') require('node:v8').writeHeapSnapshot(join(dir, `snap-${process.pid}-${snaps++}.heapsnapshot`))
    const f = join(dir, `heap-${process.pid}`)
    writeFileSync(f + '.tmp', String(process.memoryUsage().heapUsed))
    renameSync(f + '.tmp', f)
  })
}
