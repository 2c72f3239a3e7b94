/** Heap used after a full GC, summed over processes started with bench/lib/gc-hook.cjs. */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep } from './proc.js'

function alive (pid: number): boolean {
  try { return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

/** The node flags that load the hook (with ISTHMUS_BENCH_HEAP_DIR in the child's env). */
export const GC_HOOK_ARGS: readonly string[] = ['--expose-gc', '--require', join(dirname(fileURLToPath(import.meta.url)), 'gc-hook.cjs')]

/** Ask every pid for a GC and its heap; resolves with the sum over those alive (one alive that does not answer within ~10 s throws). */
export async function heapAfterGc (pids: readonly number[], dir: string): Promise<number> {
  for (const p of pids) rmSync(join(dir, `heap-${p}`), { force: true })
  const asked: number[] = []
  for (const p of pids) {
    try { process.kill(p, 'SIGUSR2'); asked.push(p) } catch {} // gone (a killed worker): not counted
  }
  let sum = 0
  for (const p of asked) {
    const f = join(dir, `heap-${p}`)
    let gone = false
    for (let i = 0; !existsSync(f); i++) {
      // A worker killed just before the sample may still be listed (or a zombie): not counted.
      if (!alive(p)) { gone = true; break }
      if (i > 1000) throw new Error(`pid ${p} wrote no heap figure (started without bench/lib/gc-hook.cjs?)`)
      await sleep(10)
    }
    if (!gone) sum += Number(readFileSync(f, 'utf8'))
  }
  return sum
}
