import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

test('/metrics: requests by listener/service/status, latency histogram, upstream sessions, active calls', async (t) => {
  const up = await startEchoServer()
  t.teardown(() => up.close())
  // An exact route: the service label is a name config gives (a prefix route counts `other`).
  const gw = await startTestGateway(t, tripleConfig([up.port], { routes: [{ name: 'echo', match: { service: 'isthmus.test.Echo' }, cluster: 'echo' }] }))
  const client = echoClient(gw.addresses.triple!.port)
  t.teardown(() => client.close())
  await unary(client, { message: 'a' })
  await unary(client, { message: 'b' })
  await t.throwsAsync(unary(client, { message: 'c', failCode: grpc.status.NOT_FOUND }))
  const res = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/metrics`)
  t.is(res.status, 200)
  t.regex(res.headers.get('content-type') ?? '', /text\/plain/)
  const text = await res.text()
  // Counters are process-wide; other tests in this file would add to them, so read >=.
  const count = (status: number): number => Number(new RegExp(`isthmus_requests_total\\{listener="triple",service="isthmus.test.Echo",status="${status}"\\} (\\d+)`).exec(text)?.[1] ?? 0)
  t.true(count(0) >= 2)
  t.true(count(5) >= 1)
  t.regex(text, /isthmus_request_duration_seconds_bucket\{le="0.005",listener="triple"\} \d+/)
  // A histogram as prom-client prints one: TYPE line, cumulative buckets, +Inf = _count, _sum.
  t.regex(text, /# TYPE isthmus_request_duration_seconds histogram/)
  const buckets = [...text.matchAll(/isthmus_request_duration_seconds_bucket\{le="([^"]+)",listener="triple"\} (\d+)/g)].map(m => [m[1], Number(m[2])] as const)
  t.is(buckets.length, 15)
  t.is(buckets.at(-1)?.[0], '+Inf')
  for (let i = 1; i < buckets.length; i++) t.true(buckets[i][1] >= buckets[i - 1][1])
  const total = Number(/isthmus_request_duration_seconds_count\{listener="triple"\} (\d+)/.exec(text)?.[1])
  t.true(total >= 3)
  t.is(buckets.at(-1)?.[1], total)
  t.regex(text, /isthmus_request_duration_seconds_sum\{listener="triple"\} [0-9.e-]+/)
  t.regex(text, /isthmus_upstream_sessions\{protocol="triple"\} [1-9]/)
  t.regex(text, /isthmus_active_calls\{listener="triple"\} 0/)
  t.regex(text, /isthmus_downstream_connections\{listener="triple"\} [1-9]/)
  t.regex(text, /isthmus_process_cpu_seconds_total \d/)
})
