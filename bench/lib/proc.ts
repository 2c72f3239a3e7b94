/** Child processes for benches: spawn, wait until a port answers, CPU time from /proc, stop by pid. */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'

/** Linux USER_HZ: /proc/<pid>/stat reports utime and stime in these ticks. */
const CLK_TCK = 100

export interface Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly pid: number
  /** Last lines of stderr, for error messages. */
  readonly tail: string[]
}

export function startChild (name: string, cmd: string, args: string[], cwd: string): Child {
  const proc = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const tail: string[] = []
  const keep = (b: Buffer): void => {
    for (const line of b.toString().split('\n')) if (line !== '') tail.push(line)
    if (tail.length > 20) tail.splice(0, tail.length - 20)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  if (proc.pid === undefined) throw new Error(`${name}: spawn ${cmd} failed`)
  return { name, proc, pid: proc.pid, tail }
}

/** Resolve once `port` accepts a TCP connection; reject if the child exits or time runs out. */
export async function waitForPort (child: Child, port: number, timeoutMs = 30000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`${child.name} exited (${child.proc.exitCode ?? child.proc.signalCode}): ${child.tail.join(' | ')}`)
    if (await canConnect(port)) return
    await sleep(100)
  }
  throw new Error(`${child.name}: port ${port} not open after ${timeoutMs} ms: ${child.tail.join(' | ')}`)
}

function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { s.destroy(); resolve(false) })
  })
}

/** Process CPU time (user + system, all threads) in microseconds. */
export function cpuMicros (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may contain spaces) start at the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // f[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(f[11]) + Number(f[12])) * (1e6 / CLK_TCK)
}

/** CPU time of one thread of `pid` (tid = pid: the main thread) in microseconds. */
export function threadCpuMicros (pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * (1e6 / CLK_TCK)
}

/** SIGTERM, then SIGKILL after `graceMs`. Only ever the pid we spawned. */
export async function stopChild (child: Child, graceMs = 3000): Promise<void> {
  const p = child.proc
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
  p.kill('SIGTERM')
  const timer = setTimeout(() => { if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL') }, graceMs)
  await exited
  clearTimeout(timer)
}

export async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

export function sleep (ms: number): Promise<void> { return new Promise(resolve => setTimeout(resolve, ms)) }

export function median (xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Median over rounds of a's figure / b's, round by round (same conditions); nulls and zero divisors skipped. */
export function medianRoundRatio<S> (a: readonly S[] | undefined, b: readonly S[] | undefined, f: (s: S) => number | null): number {
  if (a === undefined || b === undefined) return NaN
  const xs: number[] = []
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = f(a[i]); const y = f(b[i])
    if (x !== null && y !== null && y !== 0) xs.push(x / y)
  }
  return median(xs)
}

/** Median of a figure over samples, nulls skipped. */
export function medianOf<S> (xs: readonly S[], f: (s: S) => number | null): number {
  return median(xs.map(f).filter((x): x is number => x !== null))
}

/** Nearest-rank percentile of an ascending array. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

/** Read and write syscalls `pid` has made so far (all threads; /proc/<pid>/io syscr, syscw). */
export function ioSyscalls (pid: number): { reads: number, writes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8')
  return { reads: Number(/syscr: (\d+)/.exec(io)?.[1] ?? NaN), writes: Number(/syscw: (\d+)/.exec(io)?.[1] ?? NaN) }
}
