import test from 'ava'
import { readFileSync } from 'node:fs'
import { metricsDoc } from '../../scripts/metrics-doc.js'
import { registry } from '../../gateway/metrics.js'

test('docs/METRICS.md lists exactly the registry (regenerate: npx tsx scripts/metrics-doc.ts > docs/METRICS.md)', async (t) => {
  t.is(readFileSync(new URL('../../docs/METRICS.md', import.meta.url), 'utf8'), await metricsDoc())
})

test('the reference covers the gateway and built-in filter metrics a scrape shows', async (t) => {
  await metricsDoc()
  const text = await registry.metrics()
  const doc = readFileSync(new URL('../../docs/METRICS.md', import.meta.url), 'utf8')
  const scraped = [...text.matchAll(/^# TYPE (isthmus_\S+) /gm)].map(m => m[1]).filter(n => !/^isthmus_(process|nodejs)_/.test(n))
  t.true(scraped.length >= 10)
  for (const name of scraped) t.true(doc.includes(`| \`${name}\` |`), name)
  for (const name of ['isthmus_requests_total', 'isthmus_deny_denied_total', 'isthmus_auth_calls_total', 'isthmus_policy_decisions_total']) t.true(scraped.includes(name), name)
})
