/**
 * The *.redis.test.ts files need a real Redis on 127.0.0.1:6379 and the redis-server binary
 * (some start their own on a free port). Without them every such file fails once, with one
 * line saying how to get them, instead of a pile of connection errors.
 */
import { execFile } from 'node:child_process'
import { connect } from 'node:net'
import type { ExecutionContext } from 'ava'

export const REDIS_HINT = 'start one with: redis-server --daemonize yes --port 6379 --save "" --appendonly no (Debian: apt-get install redis-server; .ci/run does both)'

/** Why the Redis tests cannot run here, or null when they can. */
export async function redisUnavailable (port = 6379): Promise<string | null> {
  const pong = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
    s.setTimeout(5000, () => done(false))
    s.on('error', () => done(false))
    s.on('connect', () => s.write('PING\r\n'))
    s.on('data', (d: Buffer) => done(d.toString().startsWith('+PONG')))
  })
  if (!pong) return `Redis is not reachable on 127.0.0.1:${port}: ${REDIS_HINT}`
  const binary = await new Promise<boolean>(resolve => execFile('redis-server', ['--version'], (err) => resolve(err === null)))
  if (!binary) return `redis-server is not on PATH (these tests start their own instances): ${REDIS_HINT}`
  return null
}

/** For a `test.before`: fail the file with that one line when Redis is missing. */
export async function requireRedis (t: ExecutionContext): Promise<void> {
  const why = await redisUnavailable()
  if (why !== null) t.fail(why)
}
