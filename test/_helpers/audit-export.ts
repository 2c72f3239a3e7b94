/** A private redis-server, the compiled exporter and its file sink, for audit export tests. */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { CLI, ROOT } from './cli.js'

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
  })
}

/** redis-server on `port` (AOF on, files in `dir`), once it answers PING. */
export async function startRedis (port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' })
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null })
  probe.on('error', () => {})
  await probe.connect().catch(() => {})
  await probe.ping()
  probe.disconnect()
  return child
}

export function exited (c: ChildProcess): Promise<number | null> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise(resolve => c.once('exit', code => resolve(code)))
}

/** `isthmus audit export` to a file sink in `sinkDir` (audit.ndjson, checkpoints.ndjson). */
export function startExporter (redis: number, sinkDir: string, stderr: string[], keyPrefix = 'exp-test:'): ChildProcess {
  const c = spawn(process.execPath, [CLI, 'audit', 'export', '--redis', `redis://127.0.0.1:${redis}`, '--key-prefix', keyPrefix, '--sink', `file:${join(sinkDir, 'audit.ndjson')},checkpoints=${join(sinkDir, 'checkpoints.ndjson')}`],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ISTHMUS_LOG_LEVEL: 'warn' } })
  c.stderr!.setEncoding('utf8')
  c.stderr!.on('data', (d: string) => { stderr.push(d); if (stderr.length > 50) stderr.shift() })
  return c
}

export function sinkLines (sinkDir: string): Array<Record<string, any>> {
  const f = join(sinkDir, 'audit.ndjson')
  if (!existsSync(f)) return []
  return readFileSync(f, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, any>)
}
