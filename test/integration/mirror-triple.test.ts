/**
 * The mirror filter on Triple, end to end with grpc-js clients and servers: the fraction a
 * target sees, the marker, two targets, the body cap and stress traffic, misbehaving targets
 * (hung, resetting, slow) that leave the primary's results and p99 as they are, and the
 * response comparison (match, mismatch, ignore rules, samples in the admin API).
 */
import test, { type ExecutionContext } from 'ava'
import * as grpc from '@grpc/grpc-js'
import { performance } from 'node:perf_hooks'
import { startTestGateway } from '../_helpers/gateway.js'
import { echoClient, startEchoServer, unary, type EchoServer } from '../_peers/grpc-echo.js'
import { mirrorCounts, percentile, runCalls, startHungTarget, startResetTarget } from '../_helpers/mirror.js'
import { waitFor } from '../_helpers/hostile-util.js'
import { httpJson } from '../_helpers/http.js'
import { PREFACE, data, grpcRequest, headers, rawConnect, rstStream, settings, settingsAck } from '../_peers/h2-frames.js'

process.setMaxListeners(64)
const TOKEN = 'test-token'

async function echo (t: ExecutionContext, name = 'echo'): Promise<EchoServer> {
  const s = await startEchoServer(name)
  t.teardown(() => s.kill())
  return s
}

function cluster (name: string, port: number, upstream: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, protocol: 'triple', hosts: [{ address: '127.0.0.1', port }], upstream: { connectTimeoutMs: 1000, ...upstream } }
}

async function gateway (t: ExecutionContext, clusters: Array<Record<string, unknown>>, routes: Array<Record<string, unknown>>, mirror: Record<string, unknown>, extraFilters: Array<Record<string, unknown>> = []) {
  const gw = await startTestGateway(t, {
    entity: 'test',
    listeners: { triple: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN } },
    clusters,
    routes,
    filters: [...extraFilters, { name: 'mirror', config: mirror }],
    drain: { timeoutMs: 1000 },
  })
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  return { gw, client, admin: gw.addresses.admin!.port }
}

const ALL = { name: 'all', match: { service: { prefix: '' } }, cluster: 'primary' }
const marked = (s: EchoServer): number => s.seen.filter(md => md.get('x-isthmus-mirror')[0] === 'test').length

test.serial('2,000 calls at 10%: the target sees 10% ± 3%, every copy marked, the primary none', async (t) => {
  const primary = await echo(t)
  const shadow = await echo(t, 'shadow')
  const { client, admin } = await gateway(t, [cluster('primary', primary.port), cluster('shadow', shadow.port)], [ALL],
    { routes: [{ route: 'all', targets: [{ cluster: 'shadow', fraction: 0.1 }] }] })
  const results = await runCalls(2000, 32, async (i) => (await unary(client, { message: `m${i}` })).reply.servedBy)
  t.true(results.every(r => r === 'echo'))
  t.is(primary.calls, 2000)
  const c = await waitFor(async () => { const c = await mirrorCounts(admin, 'shadow'); return c.ended === shadow.calls && c.ended > 0 ? c : null }, "every copy counted")
  t.is(c.ok, shadow.calls)
  t.true(shadow.calls >= 140 && shadow.calls <= 260, `target saw ${shadow.calls} of 2000`)
  t.is(marked(shadow), shadow.calls)
  t.is(marked(primary), 0)
})

test.serial('two targets: each gets its own fraction of the same calls', async (t) => {
  const primary = await echo(t)
  const a = await echo(t, 'a')
  const b = await echo(t, 'b')
  const { client, admin } = await gateway(t, [cluster('primary', primary.port), cluster('a', a.port), cluster('b', b.port)], [ALL],
    { routes: [{ route: 'all', targets: [{ cluster: 'a', fraction: 1 }, { cluster: 'b', fraction: 0.5 }] }] })
  await runCalls(300, 16, async (i) => await unary(client, { message: `m${i}` }))
  await waitFor(async () => (await mirrorCounts(admin, 'a')).ok === 300 && (await mirrorCounts(admin, 'b')).ok === b.calls, 'copies counted')
  t.is(a.calls, 300)
  t.true(b.calls >= 100 && b.calls <= 200, `b saw ${b.calls} of 300`)
  t.is(marked(a) + marked(b), a.calls + b.calls)
})

test.serial('bodies over the cap and stress calls are not mirrored (counted); a route may opt in to stress', async (t) => {
  const primary = await echo(t)
  const shadow = await echo(t, 'shadow')
  const { client, admin } = await gateway(t, [cluster('primary', primary.port), cluster('capped', shadow.port)],
    [{ name: 'stress-ok', match: { headers: [{ name: 'x-route', exact: 'stress-ok' }] }, cluster: 'primary' }, ALL],
    { maxBodyBytes: 2048, routes: [{ route: 'all', targets: [{ cluster: 'capped', fraction: 1 }] }, { route: 'stress-ok', stress: true, targets: [{ cluster: 'capped', fraction: 1 }] }] },
    [{ name: 'stress' }])
  const stressMd = (): grpc.Metadata => { const m = new grpc.Metadata(); m.set('tri-traffic-type', 'pressure'); return m }
  for (let i = 0; i < 10; i++) await unary(client, { message: 'small' })
  // Over the cap in one message, and in a stream of messages each under it.
  for (let i = 0; i < 5; i++) t.is((await unary(client, { message: 'big', payload: Buffer.alloc(8192, 1) })).reply.payload.length, 8192)
  const streamed = await new Promise<number>((resolve, reject) => {
    const call = client.clientStream(new grpc.Metadata(), {}, (err, res) => err !== null ? reject(err) : resolve(res.index))
    for (let i = 0; i < 8; i++) call.write({ message: 'part', payload: Buffer.alloc(1000, 2) })
    call.end()
  })
  t.is(streamed, 8000)
  for (let i = 0; i < 5; i++) await unary(client, { message: 'stress' }, stressMd())
  const optIn = stressMd(); optIn.set('x-route', 'stress-ok')
  await unary(client, { message: 'stress-in' }, optIn)
  // A dropped copy is counted once, as dropped, never as an outcome too.
  const c = await waitFor(async () => { const c = await mirrorCounts(admin, 'capped'); return c.ended === 11 && c.dropped_cap === 6 ? c : null }, 'copies ended', 5000).catch(async (err) => { t.log(await mirrorCounts(admin, 'capped')); throw err })
  t.is(c.ok, 11) // 10 small + the opted-in stress call
  t.is(c.stress, 5)
  // The unary copies over the cap never reached a handler; the stream crossing the cap mid-way
  // was cut: the target saw its start, then a reset.
  await waitFor(() => shadow.cancelled.includes('clientStream'), 'the cut copy reset at the target')
  t.is(shadow.seen.length, 12)
  t.deepEqual(shadow.seen.map(md => md.get('tri-traffic-type')[0]).filter(v => v !== undefined), ['pressure'])
  t.is(primary.calls, 10 + 5 + 1 + 5 + 1)
})

/** A grpc-js Echo server that answers every unary call after `delayMs`. */
async function slowEcho (t: ExecutionContext, delayMs: number): Promise<{ port: number, calls: number }> {
  const { EchoService } = await import('../_peers/grpc-echo.js')
  const server = new grpc.Server()
  const state = { port: 0, calls: 0 }
  const timers = new Set<NodeJS.Timeout>()
  server.addService(EchoService.service, {
    unary: (call: grpc.ServerUnaryCall<{ message?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      state.calls++
      const tm = setTimeout(() => { timers.delete(tm); cb(null, { message: call.request.message ?? '', payload: Buffer.alloc(0), servedBy: 'slow', index: 0 }) }, delayMs)
      timers.add(tm)
    },
  })
  state.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => err ? reject(err) : resolve(p)))
  t.teardown(() => { for (const tm of timers) clearTimeout(tm); server.forceShutdown() })
  return state
}

test.serial('a hung, resetting or slow target changes neither the results nor the p99 of main calls', async (t) => {
  const primary = await echo(t)
  const hung = await startHungTarget()
  const reset = await startResetTarget()
  const slow = await slowEcho(t, 1500)
  t.teardown(() => hung.close())
  t.teardown(() => reset.close())
  const route = (name: string) => ({ name, match: { headers: [{ name: 'x-mode', exact: name }] }, cluster: 'primary' })
  const { client, admin } = await gateway(t,
    [cluster('primary', primary.port), cluster('hung', hung.port), cluster('reset', reset.port), cluster('slow', slow.port)],
    [route('plain'), route('mirrored')],
    { timeoutMs: 800, maxInflight: 64, routes: [{ route: 'mirrored', targets: ['hung', 'reset', 'slow'].map(cluster => ({ cluster, fraction: 1 })) }] })
  const md = (mode: string): grpc.Metadata => { const m = new grpc.Metadata(); m.set('x-mode', mode); return m }
  // Warm both paths (connections, JIT), then interleave the two kinds of calls in one run.
  await runCalls(40, 8, async (i) => await unary(client, { message: 'warm' }, md(i % 2 === 0 ? 'plain' : 'mirrored')))
  const lat: Record<string, number[]> = { plain: [], mirrored: [] }
  const bad: string[] = []
  await runCalls(800, 16, async (i) => {
    const mode = i % 2 === 0 ? 'plain' : 'mirrored'
    const msg = `${mode}-${i}`
    const t0 = performance.now()
    try {
      const r = await unary(client, { message: msg, payload: Buffer.alloc(64, i & 0xff) }, md(mode))
      lat[mode].push(performance.now() - t0)
      if (r.reply.message !== msg || r.reply.servedBy !== 'echo' || r.reply.payload.length !== 64) bad.push(msg)
    } catch (err) {
      bad.push(`${msg}: ${(err as Error).message}`)
    }
  })
  t.deepEqual(bad, [], 'every main call answered by the primary, intact')
  const p99 = { plain: percentile(lat.plain, 0.99), mirrored: percentile(lat.mirrored, 0.99) }
  t.log(`p99 plain ${p99.plain.toFixed(1)} ms, with the bad mirrors ${p99.mirrored.toFixed(1)} ms (p50 ${percentile(lat.plain, 0.5).toFixed(1)} / ${percentile(lat.mirrored, 0.5).toFixed(1)})`)
  // Tolerant bounds (the machine is shared, tails are noisy); a mirror that held main calls
  // would add its timeout or the target's delay to half of them, which the median shows.
  t.true(p99.mirrored <= 2 * p99.plain + 50, `p99 ${p99.mirrored} vs ${p99.plain}`)
  t.true(percentile(lat.mirrored, 0.5) <= 1.5 * percentile(lat.plain, 0.5) + 20, 'p50')
  // The bad targets were really tried, and each failure was counted where it belongs.
  const counts = await waitFor(async () => {
    const c = { hung: await mirrorCounts(admin, 'hung'), reset: await mirrorCounts(admin, 'reset'), slow: await mirrorCounts(admin, 'slow') }
    return c.hung.ended + c.hung.dropped_inflight + c.hung.dropped_unavailable >= 420 && c.slow.ended + c.slow.dropped_inflight >= 420 ? c : null
  }, 'copies to the bad targets ended')
  t.log(JSON.stringify(counts))
  t.is(counts.hung.ok, 0)
  t.true(counts.hung.timeout + counts.hung.connect > 0)
  t.is(counts.reset.ok, 0)
  t.true(counts.reset.connect + counts.reset.reset + counts.reset.dropped_unavailable > 0)
  t.true(counts.slow.timeout > 0)
  t.true(hung.accepted > 0 && reset.accepted > 0 && slow.calls > 0)
  t.true(counts.hung.dropped_inflight + counts.slow.dropped_inflight > 0, 'the in-flight bound tripped')
})

test.serial('comparison: an equal response is a match, a different one a mismatch (sampled: metadata and digests, no body); ignore rules per route', async (t) => {
  const primary = await echo(t)
  const same = await echo(t) // answers as "echo" too: byte-identical responses
  const differs = await echo(t, 'ech0') // same size, other bytes
  const { client, admin } = await gateway(t,
    [cluster('primary', primary.port), cluster('cmp-same', same.port), cluster('cmp-differs', differs.port), cluster('cmp-ignored', differs.port)],
    [{ name: 'lenient', match: { headers: [{ name: 'x-route', exact: 'lenient' }] }, cluster: 'primary' }, ALL],
    { routes: [
      { route: 'all', compare: {}, targets: [{ cluster: 'cmp-same', fraction: 1 }, { cluster: 'cmp-differs', fraction: 1 }] },
      { route: 'lenient', compare: { ignore: ['digest'] }, targets: [{ cluster: 'cmp-ignored', fraction: 1 }] },
    ] })
  for (let i = 0; i < 5; i++) await unary(client, { message: `secret-body-marker-${i}` })
  const lenient = new grpc.Metadata(); lenient.set('x-route', 'lenient')
  for (let i = 0; i < 3; i++) await unary(client, { message: `secret-body-marker-l${i}` }, lenient)
  const c = await waitFor(async () => {
    const c = { same: await mirrorCounts(admin, 'cmp-same'), differs: await mirrorCounts(admin, 'cmp-differs'), ignored: await mirrorCounts(admin, 'cmp-ignored') }
    return c.same.match + c.differs.mismatch + c.ignored.match === 13 ? c : null
  }, 'comparisons counted')
  t.is(c.same.mismatch, 0)
  t.is(c.differs.match, 0)
  t.is(c.ignored.mismatch, 0)
  const r = await httpJson(admin, 'GET', '/v1/mirror/mismatches', undefined, { authorization: `Bearer ${TOKEN}` })
  t.is(r.status, 200)
  const body = r.body as { total: number, mismatches: Array<{ route: string, target: string, differ: string[], service: string, method: string, primary: { status: number, grpcStatus: number, bytes: number, digest: string }, mirror: { bytes: number, digest: string, grpcStatus: number } }> }
  const mine = body.mismatches.filter(m => m.target === 'cmp-differs')
  t.is(mine.length, 5)
  for (const m of mine) {
    t.is(m.route, 'all')
    t.deepEqual(m.differ, ['digest'])
    t.is(m.service, 'isthmus.test.Echo')
    t.is(m.method, 'Unary')
    t.is(m.primary.status, 200)
    t.is(m.primary.grpcStatus, 0)
    t.is(m.mirror.grpcStatus, 0)
    t.is(m.primary.bytes, m.mirror.bytes)
    t.regex(m.primary.digest, /^sha256:[0-9a-f]{64}$/)
    t.not(m.primary.digest, m.mirror.digest)
  }
  t.false(JSON.stringify(r.body).includes('secret-body-marker'), 'no body bytes in the samples')
})

test.serial('a primary whose client resets mid-body cuts its copy: counted aborted, the target sees a reset', async (t) => {
  const primary = await echo(t)
  const shadow = await echo(t, 'shadow')
  const { gw, admin } = await gateway(t, [cluster('primary', primary.port), cluster('cut', shadow.port)], [ALL],
    { routes: [{ route: 'all', targets: [{ cluster: 'cut', fraction: 1 }] }] })
  // Raw frames: RST_STREAM(CANCEL) with no END_STREAM before it (node's and grpc-js's clients end
  // the stream first).
  const conn = await rawConnect(gw.addresses.triple!.port)
  t.teardown(() => conn.socket.destroy())
  conn.socket.write(Buffer.concat([PREFACE, settings(), settingsAck(), headers(1, grpcRequest('/isthmus.test.Echo/ClientStream'))]))
  const msg = Buffer.from([0x0a, 0x04, 0x70, 0x61, 0x72, 0x74]) // EchoRequest{message: "part"}
  const frame = Buffer.alloc(5 + msg.length); frame.writeUInt32BE(msg.length, 1); msg.copy(frame, 5)
  conn.socket.write(data(1, frame))
  await waitFor(() => primary.calls === 1 && shadow.calls === 1, 'both sides saw the stream start')
  conn.socket.write(rstStream(1))
  const c = await waitFor(async () => { const c = await mirrorCounts(admin, 'cut'); return c.ended === 1 ? c : null }, 'the copy ended')
  t.is(c.aborted, 1)
  await waitFor(() => shadow.cancelled.includes('clientStream'), 'the target saw the copy reset')
})
