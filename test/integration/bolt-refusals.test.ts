/**
 * Calls the gateway refuses so the client can retry elsewhere (SERVER_THREADPOOL_BUSY, which
 * SOFA clients treat as "server busy"): a host whose pool is at its in-flight cap
 * (ISTH_ERR_UPSTREAM_OVERLOADED), and a request that arrives after GoAway on a draining
 * listener (ISTH_ERR_GATEWAY_DRAINING).
 */
import test from 'ava'
import { BoltStatus } from '../../gateway/errors.js'
import { BoltCmd } from '../../gateway/protocol/bolt/types.js'
import { startRawUpstream } from '../_peers/raw-bolt-upstream.js'
import { startBoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, readResponse, requestFrame, responseFrame } from '../_helpers/bolt-frames.js'
import { callMetrics } from '../../gateway/metrics.js'

/** Finished Bolt calls with no route ('-') and status SERVER_THREADPOOL_BUSY: only the GoAway refusals here. */
function drainingRefusals (): number {
  return callMetrics('bolt').finished.get('-')?.get(BoltStatus.SERVER_THREADPOOL_BUSY)?.n ?? 0
}

test('a pool at its in-flight cap (maxConnections x maxConcurrentStreams) refuses with UPSTREAM_OVERLOADED', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.answerRequests = false
  const gw = await startBoltGateway({ upstreamPort: up.port, clusterExtra: { upstream: { maxConnections: 1, maxConcurrentStreams: 2 } } })
  t.teardown(() => gw.close())
  const client = new RawBoltClient(gw.port); t.teardown(() => client.close())
  await client.ready()
  for (let id = 1; id <= 3; id++) client.write(requestFrame({ id, timeout: 5000 }))
  await client.until(() => client.byId(3) !== undefined)
  const r = client.byId(3)!
  t.is(r.status, BoltStatus.SERVER_THREADPOOL_BUSY)
  t.regex(readResponse(r.buf).error ?? '', /ISTH_ERR_UPSTREAM_OVERLOADED: upstream pool is full: 127\.0\.0\.1:\d+ has 2 calls in flight/)
  t.is(client.byId(1), undefined) // the first two are in flight, not refused
  t.is(client.byId(2), undefined)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.is(up.requests.length, 2)
})

test('goAwayOnDrain: a request after GoAway on a draining listener gets GATEWAY_DRAINING; in-flight calls finish', async t => {
  const up = await startRawUpstream(); t.teardown(() => up.close())
  up.answerRequests = false
  const gw = await startBoltGateway({ upstreamPort: up.port, bolt: { goAwayOnDrain: true } })
  t.teardown(() => gw.close())
  const client = new RawBoltClient(gw.port); t.teardown(() => client.close())
  await client.ready()
  client.write(requestFrame({ id: 1, timeout: 5000 }))
  await client.until(() => up.requests.length === 1)
  const closed = gw.listener.close(5000)
  await client.until(() => client.frames.some(f => f.cmd === BoltCmd.GOAWAY))
  const refusedBefore = drainingRefusals()
  client.write(requestFrame({ id: 2, timeout: 5000 }))
  await client.until(() => client.byId(2) !== undefined)
  const r = client.byId(2)!
  t.is(r.status, BoltStatus.SERVER_THREADPOOL_BUSY)
  t.regex(readResponse(r.buf).error ?? '', /ISTH_ERR_GATEWAY_DRAINING/)
  t.is(up.requests.length, 1) // never forwarded
  t.is(drainingRefusals(), refusedBefore + 1, 'the refused call is counted like any other')
  // The call in flight still gets its answer, then the connection closes.
  const s = [...up.sockets][0]
  s.write(responseFrame(up.requests[0].requestId, 'late'))
  await client.until(() => client.byId(1) !== undefined)
  t.is(readResponse(client.byId(1)!.buf).value, 'late')
  await closed
  await client.until(() => client.closed)
  t.true(client.closed)
})
