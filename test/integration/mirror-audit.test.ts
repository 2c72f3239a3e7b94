/**
 * Mirror mismatches in the audit trail, end to end with real peers (grpc-js for Triple,
 * sofa-rpc-node for Bolt): a copy whose response differs from the primary's becomes one
 * `k: "mirror"` line, hash-chained, linked to the primary call's record, carrying statuses,
 * sizes, digests and the ignore rules, never a body byte; an equal copy writes none. The
 * trail verifies (in process and with the compiled `isthmus audit verify`), and an edited
 * mismatch line is found.
 */
import test, { type ExecutionContext } from 'ava'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { startTestGateway } from '../_helpers/gateway.js'
import { echoClient, startEchoServer, unary, type EchoServer } from '../_peers/grpc-echo.js'
import { sofaClient, sofaConsumer, startSofaServer, startSofaServerFor, TEST_SERVICE, TEST_VERSION } from '../_peers/sofa-rpc.js'
import { mirrorCounts } from '../_helpers/mirror.js'
import { waitFor } from '../_helpers/hostile-util.js'
import { runCli } from '../_helpers/cli.js'
import { verifyTrail, type VerifyFile } from '../../filters/audit/verify.js'
import { tempDir } from '../filters/audit/_trail.js'
import { allText, auditLines, records, until, type AuditLine } from '../filters/audit/_read.js'

process.setMaxListeners(64)
const TOKEN = 'test-token'
const MARKER = 'secret-body-marker'

async function echo (t: ExecutionContext, name = 'echo'): Promise<EchoServer> {
  const s = await startEchoServer(name)
  t.teardown(() => s.kill())
  return s
}

function cluster (name: string, protocol: 'triple' | 'bolt', port: number): Record<string, unknown> {
  return { name, protocol, hosts: [{ address: '127.0.0.1', port }], upstream: { connectTimeoutMs: 1000 } }
}

async function gateway (t: ExecutionContext, dir: string, clusters: Array<Record<string, unknown>>, routes: Array<Record<string, unknown>>, mirror: Record<string, unknown>) {
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, bolt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN } },
    clusters,
    routes,
    filters: [{ name: 'mirror', config: mirror }],
    audit: { enabled: true, dir, flushMs: 10 },
    drain: { timeoutMs: 1000 },
  })
  return { gw, admin: gw.addresses.admin!.port, triple: gw.addresses.triple!.port, bolt: gw.addresses.bolt!.port }
}

function trailFiles (dir: string): VerifyFile[] {
  return readdirSync(dir).filter(n => n.endsWith('.ndjson')).sort().map(n => ({ name: n, text: readFileSync(join(dir, n), 'utf8') }))
}

const mirrorLines = (dir: string): AuditLine[] => auditLines(dir).filter(l => l.k === 'mirror')

/** Every mismatch line names its record, and that record is the primary call's (mirrored, same route). */
function checkLinks (t: ExecutionContext, dir: string, lines: AuditLine[]): void {
  const byId = new Map(records(dir).map(r => [r.id as string, r]))
  for (const l of lines) {
    t.regex(String(l.rec), /^[0-9a-f]{16}\.\d+$/)
    const r = byId.get(l.rec)
    t.truthy(r, `record ${String(l.rec)} is in the trail`)
    t.true(r!.call.mirrored)
    t.is(r!.call.route, l.data.route)
    t.is(r!.call.cluster, l.data.primary.cluster)
    t.deepEqual(l.trace, r!.call.trace)
  }
  t.is(new Set(lines.map(l => l.rec)).size, lines.length, 'one line per mismatching call')
}

test.serial('Triple: a different copy writes a chained mismatch line per call (digests, no body), an equal one none; the trail verifies; an edit is found', async (t) => {
  const dir = tempDir(t)
  const primary = await echo(t)
  const same = await echo(t) // byte-identical answers
  const differs = await echo(t, 'ech0') // same size, other bytes
  const { admin, triple } = await gateway(t, dir,
    [cluster('primary', 'triple', primary.port), cluster('cmp-same', 'triple', same.port), cluster('cmp-differs', 'triple', differs.port), cluster('cmp-lenient', 'triple', differs.port)],
    [{ name: 'lenient', match: { headers: [{ name: 'x-route', exact: 'lenient' }] }, cluster: 'primary' }, { name: 'all', match: { service: { prefix: '' } }, cluster: 'primary' }],
    { routes: [
      { route: 'all', compare: {}, targets: [{ cluster: 'cmp-same', fraction: 1 }, { cluster: 'cmp-differs', fraction: 1 }] },
      { route: 'lenient', compare: { ignore: ['size'] }, targets: [{ cluster: 'cmp-lenient', fraction: 1 }] },
    ] })
  const client = echoClient(triple)
  t.teardown(() => client.close())
  for (let i = 0; i < 5; i++) await unary(client, { message: `${MARKER}-${i}` })
  const lenient = new grpc.Metadata(); lenient.set('x-route', 'lenient')
  for (let i = 0; i < 2; i++) await unary(client, { message: `${MARKER}-l${i}` }, lenient)
  await waitFor(async () => (await mirrorCounts(admin, 'cmp-same')).match === 5 && (await mirrorCounts(admin, 'cmp-differs')).mismatch === 5 && (await mirrorCounts(admin, 'cmp-lenient')).mismatch === 2, 'comparisons counted')
  await until(() => mirrorLines(dir).length >= 7 && records(dir).length >= 7, 60000, () => `${mirrorLines(dir).length} mirror lines, ${records(dir).length} records`)
  const lines = mirrorLines(dir)
  t.is(lines.length, 7)
  t.deepEqual(lines.map(l => l.data.mirror.cluster).sort(), ['cmp-differs', 'cmp-differs', 'cmp-differs', 'cmp-differs', 'cmp-differs', 'cmp-lenient', 'cmp-lenient'])
  for (const l of lines) {
    const lenientLine = l.data.route === 'lenient'
    t.is(l.entity, 'test')
    t.regex(l.time, /^\d{4}-\d\d-\d\dT/)
    t.regex(l.h, /^[0-9a-f]{64}$/)
    t.is(l.data.proto, 'triple')
    t.is(l.data.svc, 'isthmus.test.Echo')
    t.is(l.data.method, 'Unary')
    t.deepEqual(l.data.differ, ['digest'])
    t.deepEqual(l.data.ignore, lenientLine ? ['size'] : [])
    t.is(l.data.skipped, 0)
    t.is(l.data.primary.cluster, 'primary')
    t.is(l.data.primary.status, 200)
    t.is(l.data.primary.grpcStatus, 0)
    t.is(l.data.mirror.status, 200)
    t.is(l.data.mirror.grpcStatus, 0)
    t.is(l.data.primary.bytes, l.data.mirror.bytes)
    t.regex(l.data.primary.digest, /^sha256:[0-9a-f]{64}$/)
    t.regex(l.data.mirror.digest, /^sha256:[0-9a-f]{64}$/)
    t.not(l.data.primary.digest, l.data.mirror.digest)
  }
  t.log(JSON.stringify(lines[0]))
  checkLinks(t, dir, lines)
  t.false(allText(dir).includes(MARKER), 'no body bytes in any audit file')

  const files = trailFiles(dir)
  const ok = verifyTrail(files, null)
  t.deepEqual(ok.problems, [])
  t.true(ok.ok)
  const cli = await runCli(['audit', 'verify', ...readdirSync(dir).filter(n => n.endsWith('.ndjson')).map(n => join(dir, n))])
  t.is(cli.code, 0, cli.stdout + cli.stderr)
  t.regex(cli.stdout, /^ok trail [0-9a-f]{16} .*; event lines: 7 mirror$/m)

  // Edit one mismatch line (the mirror's status) in a copy of the segment: verify names it.
  const seg = files.find(f => f.name.startsWith('audit-'))!
  const edited = seg.text.split('\n').map(l => l.includes('"k":"mirror"') && !l.includes('cmp-lenient') ? l.replace('"status":200}', '"status":503}') : l)
  const firstEdited = edited.findIndex((l, i) => l !== seg.text.split('\n')[i])
  t.true(firstEdited >= 0)
  const report = verifyTrail([{ name: seg.name, text: edited.join('\n') }], null)
  t.false(report.ok)
  t.regex(report.problems.join('\n'), new RegExp(`${seg.name}:${firstEdited + 1}: mirror entry was altered`))
  const copy = join(tempDir(t), seg.name)
  writeFileSync(copy, edited.join('\n'))
  const bad = await runCli(['audit', 'verify', copy])
  t.not(bad.code, 0)
  t.regex(bad.stdout + bad.stderr, /mirror entry was altered/)
})

test.serial('Bolt (sofa-rpc-node): a copy that answers differently writes a mismatch line linked to the record, an equal one none; the trail verifies', async (t) => {
  const dir = tempDir(t)
  const primary = await startSofaServer()
  const same = await startSofaServer()
  const differs = await startSofaServerFor(TEST_SERVICE, { async echo (x: unknown) { return `${String(x)}!` } }, TEST_VERSION)
  for (const p of [primary, same, differs]) t.teardown(() => p.close())
  const { admin, bolt } = await gateway(t, dir, [cluster('primary', 'bolt', primary.port), cluster('b-same', 'bolt', same.port), cluster('b-differs', 'bolt', differs.port)],
    [{ name: 'all', match: { protocol: 'bolt', service: { prefix: '' } }, cluster: 'primary' }],
    { routes: [{ route: 'all', compare: { ignore: ['grpc-status'] }, targets: [{ cluster: 'b-same', fraction: 1 }, { cluster: 'b-differs', fraction: 1 }] }] })
  const client = sofaClient()
  t.teardown(() => client.close())
  const c = await sofaConsumer(client, bolt)
  for (let i = 0; i < 4; i++) t.is(await c.invoke('echo', [`${MARKER}-${i}`]), `${MARKER}-${i}`)
  await waitFor(async () => (await mirrorCounts(admin, 'b-same')).match === 4 && (await mirrorCounts(admin, 'b-differs')).mismatch === 4, 'comparisons counted')
  await until(() => mirrorLines(dir).length >= 4 && records(dir).length >= 4, 60000, () => `${mirrorLines(dir).length} mirror lines`)
  const lines = mirrorLines(dir)
  t.is(lines.length, 4)
  for (const l of lines) {
    t.is(l.data.proto, 'bolt')
    t.is(l.data.mirror.cluster, 'b-differs')
    t.deepEqual(l.data.differ, ['size', 'digest'])
    t.deepEqual(l.data.ignore, ['grpc-status'])
    t.is(l.data.primary.status, 0)
    t.is(l.data.mirror.status, 0)
    t.is(l.data.mirror.bytes, l.data.primary.bytes + 1)
    t.not(l.data.primary.digest, l.data.mirror.digest)
  }
  checkLinks(t, dir, lines)
  t.false(allText(dir).includes(MARKER), 'no body bytes in any audit file')
  const report = verifyTrail(trailFiles(dir), null)
  t.deepEqual(report.problems, [])
  t.true(report.ok)
})

