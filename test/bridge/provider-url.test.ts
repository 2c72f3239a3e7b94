/** Provider node names -> Providers: both encodings, the mapping table, hostile input. */
import { createRequire } from 'node:module'
import test from 'ava'
import { DEFAULT_PARAMS, parseProviderNode, type ProviderMapping } from '../../bridge/zookeeper/provider-url.js'
import { effectiveWeight, type Provider } from '../../bridge/model.js'
import { javaProviderNode } from './_zk.js'

const require = createRequire(import.meta.url)
// The encoder sofa-rpc-node's ZooKeeper registry names its nodes with.
const urlencode = require('urlencode') as { encode (s: string): string }

const M: ProviderMapping = { params: DEFAULT_PARAMS, labels: [['ldc', 'ldc']], ownerLabel: ['bridge', 'zookeeper'] }
const SVC = 'com.acme.PayService'

function parse (node: string, m = M, service = SVC): Provider {
  const p = parseProviderNode(service, node, m)
  if (typeof p === 'string') throw new Error(`skipped: ${p}`)
  return p
}

test('a Java SOFARPC node: URL-encoded, query parameters mapped (appName, uniqueId -> group, version, weight, zone, labels)', t => {
  const node = javaProviderNode({ host: '10.1.2.3', port: 12200, iface: SVC, appName: 'pay', uniqueId: 'blue', weight: 250, extra: { zone: 'GZ00B', ldc: 'rz01' } })
  t.true(node.includes('%3A%2F%2F'), 'the whole URL is encoded, as URLEncoder does')
  const p = parse(node)
  t.like(p, { service: SVC, protocol: 'bolt', address: '10.1.2.3', port: 12200, app: 'pay', version: '1.0', group: 'blue', zone: 'GZ00B', weight: 250, language: 'java', warmup: undefined })
  t.deepEqual(p.labels, { ldc: 'rz01', bridge: 'zookeeper' })
})

test('a sofa-rpc-node node (urlencode of a WHATWG URL with form-encoded values)', t => {
  const url = new URL('bolt://127.0.0.1:12200?startTime=1&pid=1&uniqueId=&dynamic=true&appName=node-app&timeout=3000&serialization=hessian2&weight=100&accepts=100000&language=nodejs&rpcVer=50400&protocol=bolt')
  url.searchParams.set('interface', SVC)
  url.searchParams.set('version', '2.0')
  url.searchParams.set('group', 'SOFA')
  url.searchParams.set('ldc', 'a b+c&d')
  const p = parse(urlencode.encode(url.toString()))
  t.like(p, { address: '127.0.0.1', port: 12200, app: 'node-app', version: '2.0', group: '', weight: 100, language: 'nodejs' })
  t.is(p.labels.ldc, 'a b+c&d', 'form-encoded values decode once')
})

test('Java values are raw: a + or % in them stays', t => {
  const p = parse(javaProviderNode({ host: 'h', port: 1, iface: SVC, extra: { ldc: 'x+y%z' } }))
  t.is(p.labels.ldc, 'x+y%z')
})

test('protocols: bolt and tri map, others are skipped; IPv6 and port 80 parse', t => {
  t.is(parse(javaProviderNode({ protocol: 'tri', host: '10.0.0.1', port: 50051, iface: SVC })).protocol, 'triple')
  t.is(parseProviderNode(SVC, javaProviderNode({ protocol: 'h2c', host: '10.0.0.1', port: 1, iface: SVC }), M), 'protocol')
  t.is(parseProviderNode(SVC, javaProviderNode({ protocol: 'rest', host: '10.0.0.1', port: 1, iface: SVC }), M), 'protocol')
  const v6 = parse(encodeURIComponent('bolt://[fd00::5]:12200?appName=x'))
  t.is(v6.address, 'fd00::5')
  t.is(parse(encodeURIComponent('bolt://10.0.0.1:80?appName=x')).port, 80)
})

test('weights: clamped to the admin range 1..1000, SOFARPC default 100 when absent or malformed', t => {
  const w = (weight: string): number => parse(encodeURIComponent(`bolt://h:1?weight=${weight}`)).weight
  t.is(w('0'), 1)
  t.is(w('5000'), 1000)
  t.is(w('-3'), 100)
  t.is(w('abc'), 100)
  t.is(parse(encodeURIComponent('bolt://h:1')).weight, 100)
})

test('SOFARPC warm-up: warmupWeight until startTime + warmupTime, then weight', t => {
  const p = parse(javaProviderNode({ host: 'h', port: 1, iface: SVC, weight: 200, startTime: 1_000_000, warmupTime: 60_000, warmupWeight: 20 }))
  t.deepEqual(p.warmup, { weight: 20, until: 1_060_000 })
  t.is(effectiveWeight(p, 1_000_000), 20)
  t.is(effectiveWeight(p, 1_059_999), 20)
  t.is(effectiveWeight(p, 1_060_000), 200)
  // Incomplete warm-up parameters: no warm-up (as Java SOFARPC).
  t.is(parse(javaProviderNode({ host: 'h', port: 1, iface: SVC, warmupWeight: 5 })).warmup, undefined)
})

test('--map: other parameters feed app, group, zone and weight', t => {
  const m: ProviderMapping = { ...M, params: { app: 'application', version: 'version', group: 'group', zone: 'idc', weight: 'w' } }
  const p = parse(encodeURIComponent('bolt://h:1?application=billing&group=g1&idc=sh&w=7&appName=ignored'), m)
  t.like(p, { app: 'billing', group: 'g1', zone: 'sh', weight: 7 })
})

test('hostile names are skipped with a reason, never guessed at', t => {
  const skip = (node: string, service = SVC): unknown => parseProviderNode(service, node, M)
  t.is(skip('%E0%A4%A'), 'bad-url')
  t.is(skip('not-a-url'), 'bad-url')
  t.is(skip(encodeURIComponent('bolt://h:0?x=1')), 'bad-url')
  t.is(skip(encodeURIComponent('bolt://h:65536')), 'bad-url')
  t.is(skip(encodeURIComponent('bolt://h')), 'bad-url')
  t.is(skip(encodeURIComponent('bolt://user:pw@h:1')), 'bad-url')
  t.is(skip(encodeURIComponent('bolt://:1')), 'bad-url')
  t.is(skip('x'.repeat(9000)), 'bad-url')
  t.is(skip(encodeURIComponent(`bolt://h:1?interface=com.other.Thing`)), 'other-interface')
  t.is(skip(encodeURIComponent('bolt://h:1?enabled=false')), 'disabled')
  t.is(skip(encodeURIComponent('bolt://h:1?category=consumers')), 'disabled')
  // An app name the admin would refuse: the provider falls back to an interface-level push.
  t.is(parse(encodeURIComponent('bolt://h:1?appName=../etc')).app, undefined)
  t.is(parse(encodeURIComponent(`bolt://h:1?appName=${'a'.repeat(200)}`)).app, undefined)
  // Long label values are dropped, not truncated into something else.
  t.false('ldc' in parse(encodeURIComponent(`bolt://h:1?ldc=${'z'.repeat(300)}`)).labels)
})
