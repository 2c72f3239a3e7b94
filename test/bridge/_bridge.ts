/**
 * Run `isthmus bridge zookeeper ...` (the compiled CLI) as its own process, read its JSON logs
 * and its /metrics and /status endpoint. Stopped with SIGTERM in teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { ExecutionContext } from 'ava'
import { Agent, request } from 'undici'
import { CLI, ROOT } from '../_helpers/cli.js'

export interface BridgeProc {
  child: ChildProcess
  port: number
  logs: Array<Record<string, unknown>>
  /** Sum of a metric's samples whose labels include `labels`. */
  metric (name: string, labels?: Record<string, string>): Promise<number>
  status (): Promise<Record<string, any>>
  stop (): Promise<number | null>
}

export async function spawnBridge (t: ExecutionContext, args: string[]): Promise<BridgeProc> {
  const child = spawn(process.execPath, [CLI, 'bridge', 'zookeeper', '--metrics-port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  let buf = ''
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridge did not start: ${stderr}`)), 90000)
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString()
      let i: number
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        try {
          const rec = JSON.parse(line) as Record<string, unknown>
          logs.push(rec)
          if (process.env.ISTHMUS_TEST_LOG !== undefined) process.stderr.write(`[bridge] ${line}\n`)
          if (rec.msg === 'metrics listening') { clearTimeout(timer); resolve(rec.port as number) }
        } catch {}
      }
    })
    void exited.then(code => { clearTimeout(timer); reject(new Error(`bridge exited ${code}: ${stderr}`)) })
  })
  const base = `http://127.0.0.1:${port}`
  let stopped: Promise<number | null> | null = null
  const proc: BridgeProc = {
    child,
    port,
    logs,
    async metric (name, labels = {}) {
      const text = await (await fetch(`${base}/metrics`)).text()
      let sum = 0
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue
        const m = /^([a-z_]+)(\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line)
        if (m === null || m[1] !== name) continue
        const got = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map(x => [x[1], x[2]]))
        if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4])
      }
      return sum
    },
    async status () { return await (await fetch(`${base}/status`)).json() as Record<string, any> },
    stop () {
      stopped ??= (async () => {
        if (child.exitCode === null) child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        const code = await exited
        clearTimeout(timer)
        return code
      })()
      return stopped
    },
  }
  t.teardown(() => proc.stop())
  return proc
}

/** Poll `cond` until it holds (generous overall timeout; no timing assertion). */
export async function waitFor (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastErr: unknown
  for (;;) {
    try { if (await cond()) return } catch (err) { lastErr = err }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr === undefined ? '' : `: ${(lastErr as Error).message}`}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/**
 * A tiny admin API client for the tests' own reads; over TLS with `tls` (PEM files: the CA
 * that verifies the admin, and a client certificate when the admin requires one).
 */
export function adminApi (port: number, token: string, tls?: { ca: string, cert?: string, key?: string }): (method: string, path: string, body?: unknown) => Promise<{ status: number, body: any }> {
  if (tls !== undefined) {
    const read = (f: string | undefined): string | undefined => f === undefined ? undefined : readFileSync(f, 'utf8')
    const dispatcher = new Agent({ connect: { ca: read(tls.ca), cert: read(tls.cert), key: read(tls.key) } })
    return async (method, path, body) => {
      const r = await request(`https://127.0.0.1:${port}${path}`, {
        method: method as 'GET',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
        reset: true, // no keep-alive socket outlives the test
      })
      const text = await r.body.text()
      return { status: r.statusCode, body: text === '' ? undefined : JSON.parse(text) }
    }
  }
  return async (method, path, body) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    return { status: r.status, body: text === '' ? undefined : JSON.parse(text) }
  }
}
