/** Run the real CLI (the compiled `bin/isthmus.ts`) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// The compiled CLI (npm test builds first): what users run, and 10x faster to spawn than tsx.
export const CLI = fileURLToPath(new URL('../../dist/bin/isthmus.js', import.meta.url))
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface CliRun { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

export function runCli (args: string[], opts: { timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    // Generous: a busy machine starts node slowly; the bound only stops a hung CLI.
    const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 100000)
    child.on('error', reject)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

export interface RunningGateway {
  child: ChildProcess
  /** Lines of JSON logs seen so far. */
  logs: Array<Record<string, unknown>>
  ports: Record<string, number>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Start `isthmus start -c file` and wait until every configured listener logged its port. */
export async function spawnGateway (configFile: string, listeners: string[], env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<RunningGateway> {
  const child = spawn(process.execPath, [CLI, 'start', '-c', configFile, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: Array<Record<string, unknown>> = []
  const ports: Record<string, number> = {}
  let buf = ''
  let stderr = ''
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => child.on('close', (code, signal) => resolve({ code, signal })))
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 90000)
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString()
      let i: number
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        try {
          const rec = JSON.parse(line) as Record<string, unknown>
          logs.push(rec)
          if (rec.msg === 'listening' && typeof rec.listener === 'string') ports[rec.listener] = rec.port as number
        } catch {}
      }
      if (listeners.every(l => ports[l] !== undefined)) { clearTimeout(timer); resolve() }
    })
    void exited.then(() => { clearTimeout(timer); reject(new Error(`gateway exited: ${stderr}`)) })
  })
  return { child, logs, ports, exited }
}
