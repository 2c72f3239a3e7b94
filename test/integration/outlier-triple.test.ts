/**
 * Outlier ejection on Triple outcomes (issue 10, item 4): a grpc-js host answering UNAVAILABLE
 * in its trailers is ejected and readmitted, each ejection lasting longer; never more than
 * maxEjectedPercent of the hosts are out; a caller's cancel or deadline never ejects.
 */
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { eventually } from '../_helpers/spawned-triple.js'
import { clusterState, failingGrpcServer, hostOf, metricSum, metrics } from '../_helpers/outlier.js'

const TOKEN = 'test-token'

/** tripleConfig with the cluster named `name` (metrics are per process: one name per test). */
function config (name: string, ports: number[], outlier: Record<string, unknown>): Record<string, unknown> {
  const cfg = tripleConfig(ports)
  const c = (cfg.clusters as Array<Record<string, unknown>>)[0]
  c.name = name
  c.outlier = outlier
  ;(cfg.routes as Array<Record<string, unknown>>)[0].cluster = name
  return cfg
}

test('a host answering UNAVAILABLE in trailers is ejected, readmitted, and ejected again for longer', async (t) => {
  const good = await startEchoServer('good')
  t.teardown(() => good.close())
  const bad = await failingGrpcServer(t, grpc.status.UNAVAILABLE)
  const cfg = config('ot-unavailable', [good.port, bad.port], { consecutiveStatusFailures: 3, ejectMs: 400, maxEjectedPercent: 50, intervalMs: 600000 })
  const gw = await startTestGateway(t, cfg)
  const admin = gw.addresses.admin.port
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())

  const call = async (): Promise<string> => { try { return (await unary(client, { message: 'x' })).reply.servedBy } catch (e) { return `code ${(e as grpc.ServiceError).code}` } }
  // Round-robin: the bad host sees every other call until its third UNAVAILABLE in a row.
  t.true(await eventually(async () => { await call(); return hostOf(await clusterState(admin, TOKEN, 'ot-unavailable'), bad.port).ejected }), 'ejected')
  let s = hostOf(await clusterState(admin, TOKEN, 'ot-unavailable'), bad.port)
  t.is(s.ejections, 1)
  t.is(s.lastEjectReason, 'status')
  t.is(s.lastEjectMs, 400)
  t.false(hostOf(await clusterState(admin, TOKEN, 'ot-unavailable'), good.port).ejected, 'the good host stays in')
  // While it is out, calls go to the good host only (unless it was readmitted meanwhile).
  const before = bad.calls()
  for (let i = 0; i < 5; i++) {
    const who = await call()
    if (hostOf(await clusterState(admin, TOKEN, 'ot-unavailable'), bad.port).ejected) t.is(who, 'good')
  }
  // Readmitted when its time is up: it takes calls again, fails them, and goes out for 2 x ejectMs.
  t.true(await eventually(async () => { await call(); return bad.calls() > before && hostOf(await clusterState(admin, TOKEN, 'ot-unavailable'), bad.port).ejections === 2 }), 'readmitted, then ejected again')
  s = hostOf(await clusterState(admin, TOKEN, 'ot-unavailable'), bad.port)
  t.is(s.lastEjectMs, 800, 'the second ejection lasts twice as long')
  t.is(s.ejectLevel, 2)
  const m = await metrics(admin)
  t.is(metricSum(m, 'isthmus_outlier_ejections_total', { cluster: 'ot-unavailable', reason: 'status' }), 2)
})

test('never more than maxEjectedPercent of the hosts are ejected, even when all fail', async (t) => {
  const bads = await Promise.all([0, 1, 2, 3].map(() => failingGrpcServer(t, grpc.status.INTERNAL)))
  const cfg = config('ot-percent', bads.map(b => b.port), { consecutiveStatusFailures: 1, grpcStatuses: ['INTERNAL'], ejectMs: 600000, maxEjectedPercent: 50, intervalMs: 600000 })
  const gw = await startTestGateway(t, cfg)
  const admin = gw.addresses.admin.port
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  let most = 0
  for (let i = 0; i < 40; i++) {
    await t.throwsAsync(unary(client, { message: 'x' }))
    most = Math.max(most, (await clusterState(admin, TOKEN, 'ot-percent')).ejected)
  }
  t.is(most, 2, 'half of four hosts, never more')
  const m = await metrics(admin)
  t.is(metricSum(m, 'isthmus_outlier_ejected_hosts', { cluster: 'ot-percent' }), 2)
  t.is(bads.filter(b => b.calls() > 1).length, 2, 'two hosts stayed in and kept taking (failing) calls')
})

test('a caller\'s cancel and the caller\'s own deadline never eject a host', async (t) => {
  const slow = await startEchoServer('slow')
  t.teardown(() => slow.close())
  const cfg = config('ot-cancel', [slow.port], { consecutiveFailures: 1, consecutiveStatusFailures: 1, grpcStatuses: ['UNAVAILABLE', 'INTERNAL', 'UNKNOWN'], ejectMs: 600000, maxEjectedPercent: 100, intervalMs: 600000 })
  const gw = await startTestGateway(t, cfg)
  const admin = gw.addresses.admin.port
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  // Cancels: the call reached the host, then the caller gave up.
  for (let i = 0; i < 10; i++) {
    const before = slow.calls
    const c = client.unary({ message: 'c', delayMs: 60000 }, new grpc.Metadata(), {}, () => {})
    await eventually(() => slow.calls > before)
    c.cancel()
  }
  // The caller's deadline passes while the host works.
  for (let i = 0; i < 5; i++) {
    const err = await t.throwsAsync(unary(client, { message: 'd', delayMs: 60000 }, new grpc.Metadata(), { deadline: Date.now() + 150 })) as grpc.ServiceError
    t.is(err.code, grpc.status.DEADLINE_EXCEEDED)
  }
  t.true(await eventually(() => slow.cancelled.length >= 10), 'the cancels reached the host')
  const s = hostOf(await clusterState(admin, TOKEN, 'ot-cancel'), slow.port)
  t.is(s.ejections, 0)
  t.false(s.ejected)
  t.is(s.consecutiveFailures + s.consecutiveStatusFailures, 0)
  t.is((await unary(client, { message: 'after' })).reply.servedBy, 'slow', 'the host still serves')
})

test('an HTTP/2 session lost with many calls on it is one failure of the host', async (t) => {
  const up = await startEchoServer('crashy')
  t.teardown(() => up.close())
  const cfg = config('ot-lost', [up.port], { consecutiveFailures: 2, ejectMs: 600000, maxEjectedPercent: 100, intervalMs: 600000 })
  const gw = await startTestGateway(t, cfg)
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const calls = Array.from({ length: 8 }, () => unary(client, { message: 'x', delayMs: 60000 }).then(() => 0, (e: grpc.ServiceError) => e.code))
  t.true(await eventually(() => up.calls >= 8), 'all eight on the one session')
  up.kill() // the upstream drops its connections
  const codes = await Promise.all(calls)
  t.true(codes.every(c => c === grpc.status.UNAVAILABLE), codes.join(','))
  const s = hostOf(await clusterState(gw.addresses.admin.port, TOKEN, 'ot-lost'), up.port)
  t.is(s.consecutiveFailures, 1, 'one lost session, one failure')
  t.is(s.ejections, 0)
})
