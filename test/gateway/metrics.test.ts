/**
 * Filter counters are plain fields read at scrape time through prom-client's public collect
 * (issue 14 item 7), with bounded label sets; the duration histogram is built from plain
 * buckets without prom-client's private state.
 */
import test from 'ava'
import { Counter } from 'prom-client'
import { MAX_FILTER_SERIES, plainCounter, registry } from '../../gateway/metrics.js'
import { compileFilter, makeCall, testContext } from '../_helpers/compile-filter.js'

function value (text: string, line: string): number | undefined {
  const i = text.indexOf(line + ' ')
  return i < 0 ? undefined : Number(text.slice(i + line.length + 1, text.indexOf('\n', i)))
}

test('a filter counter counts in plain fields: prom-client is not called per inc, the scrape reports the sum', async t => {
  const c = plainCounter('isthmus_unit_calls_total', 'unit', ['result'])
  const ALLOWED = Object.freeze({ result: 'allowed' })
  const calls = { n: 0 }
  const orig = Counter.prototype.inc
  Counter.prototype.inc = function (this: Counter, ...args: unknown[]) { calls.n++; return (orig as (...a: unknown[]) => void).apply(this, args) }
  t.teardown(() => { Counter.prototype.inc = orig })
  for (let i = 0; i < 1000; i++) c.inc(ALLOWED)
  for (let i = 0; i < 10; i++) c.inc({ result: 'denied' })
  c.cell({ result: 'shadow' }).n += 3
  t.is(calls.n, 0, 'no prom-client call on the call path')
  const text = await registry.metrics()
  t.is(value(text, 'isthmus_unit_calls_total{result="allowed"}'), 1000)
  t.is(value(text, 'isthmus_unit_calls_total{result="denied"}'), 10)
  t.is(value(text, 'isthmus_unit_calls_total{result="shadow"}'), 3)
  // The same frozen labels object maps to the same cell; a second scrape adds only the delta.
  t.is(c.cell(ALLOWED), c.cell(ALLOWED))
  c.inc(ALLOWED, 5)
  t.is(value(await registry.metrics(), 'isthmus_unit_calls_total{result="allowed"}'), 1005)
  t.throws(() => c.inc(ALLOWED, -1), { instanceOf: TypeError })
})

test('a filter counter keeps at most MAX_FILTER_SERIES label sets; the rest count as other', async t => {
  const c = plainCounter('isthmus_unit_tenants_total', 'unit', ['tenant'])
  for (let i = 0; i < MAX_FILTER_SERIES + 500; i++) c.inc({ tenant: `t${i}` })
  const text = await registry.metrics()
  const lines = text.split('\n').filter(l => l.startsWith('isthmus_unit_tenants_total{'))
  t.is(lines.length, MAX_FILTER_SERIES + 1)
  t.is(value(text, 'isthmus_unit_tenants_total{tenant="other"}'), 500)
})

test('built-in filters count through the plain counter (deny)', async t => {
  const deny = (await import('../../filters/deny/index.js')).default
  const ctx = { ...testContext(), counter: (name: string, help: string, labels?: readonly string[]) => plainCounter(`isthmus_unitdeny_${name}_total`, help, labels) }
  const { filter } = compileFilter(deny, { rules: [{ name: 'no-x', service: 'x.Y' }] }, ctx)
  for (let i = 0; i < 7; i++) filter.onRequest!(makeCall({ service: 'x.Y' }))
  t.is(value(await registry.metrics(), 'isthmus_unitdeny_denied_total{rule="no-x"}'), 7)
})
