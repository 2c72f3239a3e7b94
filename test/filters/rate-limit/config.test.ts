import test from 'ava'
import rateLimit from '../../../filters/rate-limit/index.js'
import { IsthmusError } from '../../../gateway/errors.js'
import { compileFilter, testContext } from '../../_helpers/compile-filter.js'

const bad = (t: import('ava').ExecutionContext, o: unknown, path: RegExp | string, message: RegExp, ctx = testContext()): void => {
  const e = t.throws(() => compileFilter(rateLimit, o, ctx)) as IsthmusError
  t.is(e.code, 'ISTH_ERR_CONFIG_INVALID')
  if (typeof path === 'string') t.is(e.path, path, e.message); else t.regex(e.path ?? '', path)
  t.regex(e.message, message)
}

test('accepts QPS and concurrency rules with matches and by-keys, fills defaults', (t) => {
  const { config } = compileFilter(rateLimit, {
    rules: [
      { name: 'svc', match: { service: 'com.a.Pay', method: { prefix: 'get' }, entity: 'acme', app: '*', route: 'r1' }, qps: { rate: 100 } },
      { name: 'per-app', by: ['app'], concurrency: 10 },
    ],
  })
  t.is(config.rules.length, 2)
  t.is(config.concurrent.length, 1)
  t.true(config.tracks)
  t.is(config.adaptive, null)
  t.is(config.client, null)
})

test('rejects bad rules: nothing to limit, duplicate names, bad numbers, unknown keys', (t) => {
  bad(t, { rules: [{ name: 'x' }] }, '/rules/0', /needs qps or concurrency/)
  bad(t, { rules: [{ name: 'x', qps: { rate: 1 } }, { name: 'x', concurrency: 1 }] }, '/rules/1/name', /used twice/)
  bad(t, { rules: [{ name: 'x', qps: { rate: 0 } }] }, '/config/rules/0/qps/rate', /must be > 0/)
  bad(t, { rules: [{ name: 'x', concurrency: 0 }] }, '/config/rules/0/concurrency', /must be >= 1/)
  bad(t, { rules: [{ name: 'x', qps: { rate: 1 }, match: { host: 'a' } }] }, '/config/rules/0/match/host', /is not a known key/)
  bad(t, { rules: [{ name: 'x', by: ['caller'], qps: { rate: 1 } }] }, /\/config\/rules\/0\/by\/0/, /must be one of "service"/)
})

test('cluster rules need the cluster block and a Redis URL (the filter\'s or the config\'s redis section)', (t) => {
  const rule = { name: 'c', qps: { rate: 10, cluster: true } }
  bad(t, { rules: [rule] }, '/cluster', /need the `cluster` block/)
  bad(t, { rules: [rule], cluster: { fallbackShare: 0.5 } }, '/cluster/url', /need Redis/)
  bad(t, { rules: [rule], cluster: { fallbackShare: 0 } }, '/config/cluster/fallbackShare', /must be > 0/)
  const ctx = { ...testContext(), redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'x:' } }
  const { config } = compileFilter(rateLimit, { rules: [rule], cluster: { fallbackShare: 0.5 } }, ctx)
  t.truthy(config.client, 'uses the redis section')
  rateLimit.create(config).close?.()
  bad(t, { rules: [rule], cluster: { fallbackShare: 0.5, passwordEnv: 'ISTHMUS_TEST_UNSET_RL_PW' } }, '/cluster/passwordEnv', /is not set/, ctx)
})

test('adaptive needs something to watch', (t) => {
  bad(t, { adaptive: { maxEventLoopDelayMs: 0 } }, '/adaptive', /nothing to watch/)
  const { config, filter } = compileFilter(rateLimit, { adaptive: { priorities: [{ service: 'x', priority: 'low' }] } })
  t.is(config.adaptive?.o.maxEventLoopDelayMs, 50)
  filter.close?.()
})
