/**
 * Tracing in the gateway users run: the compiled CLI started with an OTel SDK preloaded by
 * `--import` (README "Tracing"), through NODE_OPTIONS as a container would set it.
 */
import test from 'ava'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import YAML from 'yaml'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { spawnGateway } from '../_helpers/cli.js'
import { eventually } from '../_helpers/spawned-triple.js'

const SDK = fileURLToPath(new URL('../_helpers/otel-file-sdk.mjs', import.meta.url))

test('isthmus start with an SDK preloaded by --import exports linked server and client spans; the upstream gets traceparent', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-trace-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const up = await startEchoServer('up1')
  t.teardown(() => up.close())
  const file = join(dir, 'isthmus.yaml')
  writeFileSync(file, YAML.stringify({
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'test-token' } },
    clusters: [{ name: 'echo', protocol: 'triple', hosts: [{ address: '127.0.0.1', port: up.port }] }],
    routes: [{ name: 'all', match: { service: { prefix: '' } }, cluster: 'echo' }],
    filters: [{ name: 'trace' }],
  }))
  const spansFile = join(dir, 'spans.jsonl')
  const gw = await spawnGateway(file, ['triple', 'admin'], { NODE_OPTIONS: `--import ${SDK}`, ISTHMUS_TEST_SPANS: spansFile })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const client = echoClient(gw.ports.triple)
  t.teardown(() => client.close())
  const md = new grpc.Metadata()
  md.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  await unary(client, { message: 'hi' }, md)
  const spans = (): Array<Record<string, any>> => existsSync(spansFile) ? readFileSync(spansFile, 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, any>) : []
  t.true(await eventually(() => spans().length >= 2, 30000))
  const server = spans().find(s => s.kind === 1)! // SpanKind.SERVER
  const cs = spans().find(s => s.kind === 2)! // SpanKind.CLIENT
  t.is(server.traceId, '0af7651916cd43dd8448eb211c80319c')
  t.is(server.parentSpanId, 'b7ad6b7169203331')
  t.is(cs.parentSpanId, server.spanId)
  t.is(server.attributes['rpc.method'], 'Unary')
  t.is(up.seen[0].get('traceparent')[0], `00-0af7651916cd43dd8448eb211c80319c-${cs.spanId as string}-01`)
})
