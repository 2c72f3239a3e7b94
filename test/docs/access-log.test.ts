/** docs/ACCESS-LOG.md against the lines a running gateway writes for real calls. */
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { spawnGateway } from '../_helpers/cli.js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'

function documentedFields (): string[] {
  const doc = readFileSync(new URL('../../docs/ACCESS-LOG.md', import.meta.url), 'utf8')
  return [...doc.matchAll(/^\| `([a-zA-Z]+)` \|/gm)].map(m => m[1])
}

test('every field of an access-log line is documented, and every documented field occurs', async (t) => {
  const up = await startEchoServer('up')
  t.teardown(() => up.close())
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-access-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'isthmus.yaml')
  writeFileSync(file, `entity: acme
listeners:
  triple: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
clusters:
  - { name: echo, protocol: triple, hosts: [{ address: 127.0.0.1, port: ${up.port} }] }
routes:
  - { name: echo, match: { service: isthmus.test.Echo }, cluster: echo }
filters:
  - { name: deny, config: { rules: [{ name: no-fail, header: { name: x-deny, value: "yes" } }] } }
log: { level: info, access: info }
`)
  const gw = await spawnGateway(file, ['triple'])
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const client = echoClient(gw.ports.triple)
  t.teardown(() => client.close())
  await unary(client, { message: 'ok' })
  const md = new grpc.Metadata(); md.set('x-deny', 'yes')
  await t.throwsAsync(unary(client, { message: 'denied' }, md))
  // A service no route matches: no route, cluster or host on the line.
  const other = new grpc.Client(`127.0.0.1:${gw.ports.triple}`, grpc.credentials.createInsecure())
  t.teardown(() => other.close())
  await new Promise<void>((resolve) => other.makeUnaryRequest('/no.Such/Svc', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), () => resolve()))

  const deadline = Date.now() + 30000
  while (gw.logs.filter(l => l.msg === 'call').length < 3 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  const lines = gw.logs.filter(l => l.msg === 'call')
  t.is(lines.length, 3)
  const seen = new Set(lines.flatMap(l => Object.keys(l)))
  const documented = documentedFields()
  t.deepEqual([...seen].filter(f => !documented.includes(f)), [], 'fields written but not documented')
  t.deepEqual(documented.filter(f => !seen.has(f)), [], 'fields documented but never written')
  t.like(lines[0], { proto: 'triple', svc: 'isthmus.test.Echo', method: 'Unary', route: 'echo', cluster: 'echo', host: `127.0.0.1:${up.port}`, status: 0, entity: 'acme' })
  t.like(lines[1], { status: grpc.status.PERMISSION_DENIED, code: 'ISTH_ERR_FILTER_DENIED' })
  t.like(lines[2], { status: grpc.status.UNIMPLEMENTED, code: 'ISTH_ERR_ROUTE_NOT_FOUND', svc: 'no.Such' })
  t.is(lines[2].route, undefined)
})
