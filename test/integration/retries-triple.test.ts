/**
 * Route retries (issue 10, item 5): a refused host, an UNAVAILABLE Trailers-Only answer and a
 * per-try timeout are retried on another host and the caller sees success (with its request
 * body intact); the retry budget caps retries when every host fails.
 */
import test from 'ava'
import net, { type AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startRawH2 } from '../_peers/raw-h2.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { metricSum, metrics } from '../_helpers/outlier.js'

async function closedPort (): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>(resolve => srv.close(() => resolve()))
  return port
}

function config (name: string, ports: number[], retry: Record<string, unknown>): Record<string, unknown> {
  const cfg = tripleConfig(ports)
  const c = (cfg.clusters as Array<Record<string, unknown>>)[0]
  c.name = name
  c.outlier = { consecutiveFailures: 100000, consecutiveStatusFailures: 100000 } // every call meets the bad host
  const r = (cfg.routes as Array<Record<string, unknown>>)[0]
  r.cluster = name
  r.retry = retry
  return cfg
}

/** A raw HTTP/2 upstream answering every call Trailers-Only UNAVAILABLE after `delayMs`. */
async function unavailable (t: import('ava').ExecutionContext, delayMs = 0): Promise<{ port: number, requests: () => number }> {
  const up = await startRawH2((stream) => {
    const answer = (): void => { if (!stream.destroyed) stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'down' }, { endStream: true }) }
    if (delayMs > 0) setTimeout(answer, delayMs); else answer()
  })
  t.teardown(() => up.close())
  return { port: up.port, requests: () => up.requests.length }
}

test('a refused host is retried on another and the caller sees success, body intact', async (t) => {
  const good = await startEchoServer('good')
  t.teardown(() => good.close())
  const gw = await startTestGateway(t, config('rt-refused', [await closedPort(), good.port], { attempts: 2 }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  for (let i = 0; i < 20; i++) {
    const payload = Buffer.alloc(1000 + i, i)
    const r = await unary(client, { message: `m${i}`, payload })
    t.is(r.reply.servedBy, 'good')
    t.is(r.reply.message, `m${i}`)
    t.deepEqual(Buffer.from(r.reply.payload), payload)
  }
  const m = await metrics(gw.addresses.admin.port)
  t.true(metricSum(m, 'isthmus_upstream_retries_total', { cluster: 'rt-refused', outcome: 'success' }) >= 1)
  t.is(metricSum(m, 'isthmus_upstream_retries_total', { cluster: 'rt-refused', outcome: 'failure' }), 0)
})

test('an UNAVAILABLE Trailers-Only answer is retried on another host', async (t) => {
  const good = await startEchoServer('good')
  t.teardown(() => good.close())
  const bad = await unavailable(t)
  const gw = await startTestGateway(t, config('rt-unavailable', [bad.port, good.port], { attempts: 2 }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  for (let i = 0; i < 10; i++) t.is((await unary(client, { message: 'x' })).reply.servedBy, 'good')
  t.true(bad.requests() >= 1, 'the bad host was tried')
})

test('a try past perTryTimeoutMs is retried within the caller\'s deadline', async (t) => {
  const good = await startEchoServer('good')
  t.teardown(() => good.close())
  const silent = await startRawH2(() => {}) // never answers
  t.teardown(() => silent.close())
  const gw = await startTestGateway(t, config('rt-pertry', [silent.port, good.port], { attempts: 2, perTryTimeoutMs: 300, on: ['per-try-timeout'] }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  for (let i = 0; i < 4; i++) t.is((await unary(client, { message: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 30000 })).reply.servedBy, 'good')
  t.true(silent.requests.length >= 1, 'the silent host was tried')
})

test('the retry budget caps retries when every host fails', async (t) => {
  const bads = await Promise.all([0, 1, 2].map(() => unavailable(t, 700)))
  // 40 calls in flight, 10%: at most 4 retried at once.
  const gw = await startTestGateway(t, config('rt-budget', bads.map(b => b.port), { attempts: 3, budgetPercent: 10, minRetries: 0 }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  const results = await Promise.all(Array.from({ length: 40 }, () => unary(client, { message: 'x' }).then(() => 0, (e: grpc.ServiceError) => e.code)))
  t.true(results.every(c => c === grpc.status.UNAVAILABLE), results.join(','))
  const m = await metrics(gw.addresses.admin.port)
  const retried = metricSum(m, 'isthmus_upstream_retries_total', { cluster: 'rt-budget' })
  const exhausted = metricSum(m, 'isthmus_upstream_retry_budget_exhausted_total', { cluster: 'rt-budget' })
  t.log(`retried ${retried}, budget exhausted ${exhausted}, upstream requests ${bads.reduce((n, b) => n + b.requests(), 0)}`)
  t.true(retried >= 1 && retried <= 4, `retried ${retried}`)
  t.true(exhausted >= 36, `exhausted ${exhausted}`)
  t.true(bads.reduce((n, b) => n + b.requests(), 0) <= 40 + 4 * 2, 'no amplification beyond the budget')
})
