/** redis.passwordEnv: the password comes from the environment, never from the config file. */
import test from 'ava'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { startTestGateway } from '../_helpers/gateway.js'
import { IsthmusError } from '../../gateway/errors.js'
import { requireRedis } from '../_helpers/redis.js'

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
  })
}

function config (port: number, passwordEnv: string): Record<string, unknown> {
  return {
    entity: 'test',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 'tok' } },
    redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: 'pw-test:', passwordEnv },
  }
}


test.before('Redis on 127.0.0.1:6379', requireRedis)
test('a password-protected Redis is reached with the password from redis.passwordEnv', async (t) => {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 's3cret'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL') })
  const probe = new Redis({ port, host: '127.0.0.1', password: 's3cret', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null })
  probe.on('error', () => {})
  t.teardown(() => probe.disconnect())
  await probe.connect().catch(() => {})
  await probe.ping()

  process.env.ISTHMUS_TEST_REDIS_PW = 's3cret'
  t.teardown(() => { delete process.env.ISTHMUS_TEST_REDIS_PW })
  const gw = await startTestGateway(t, config(port, 'ISTHMUS_TEST_REDIS_PW'))
  const res = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/v1/routes`, {
    method: 'PUT',
    headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
    body: JSON.stringify({ revision: 1, routes: [] }),
  })
  t.is(res.status, 200, await res.text())
  const keys = await probe.keys('pw-test:*')
  t.true(keys.length > 0, 'the change was written through to the password-protected Redis')
  const dump = await (await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/v1/config`, { headers: { authorization: 'Bearer tok' } })).text()
  t.false(dump.includes('s3cret'))
})

test('redis.passwordEnv naming an unset variable stops the start with a clear error', async (t) => {
  const err = await t.throwsAsync(startTestGateway(t, config(6379, 'ISTHMUS_TEST_UNSET_PW'))) as IsthmusError
  t.is(err.code, 'ISTH_ERR_CONFIG_INVALID')
  t.regex(err.message, /\/redis\/passwordEnv: environment variable ISTHMUS_TEST_UNSET_PW is not set/)
})
