/**
 * Metric labels never come from callers (issue 9 item 11: 12,000 random service names under a
 * prefix route made 12,000 series and a 0.9 MB scrape) nor from an upstream's grpc-status.
 */
import test from 'ava'
import { connect, createServer, constants as h2, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

/** An HTTP/2 gRPC upstream that answers every call with the grpc-status its service names
 *  (`status_<grpc-status>_<anything>`). */
async function statusUpstream (): Promise<{ port: number, close: () => Promise<void> }> {
  const server = createServer()
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    stream.on('error', () => {})
    const path = String(headers[':path'])
    const status = /\/status_([^_]+)_/.exec(path)?.[1] ?? '0'
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': status, 'grpc-message': 'x' }))
    stream.resume()
    stream.on('end', () => stream.end())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, close: () => new Promise(resolve => server.close(() => resolve())) }
}

/** `n` unary gRPC calls to `/<service(i)>/Call` over one session, 32 at a time. */
async function calls (port: number, n: number, service: (i: number) => string): Promise<void> {
  const session = connect(`http://127.0.0.1:${port}`)
  session.on('error', () => {})
  const one = (i: number): Promise<void> => new Promise((resolve) => {
    const s = session.request({ ':method': 'POST', ':path': `/${service(i)}/Call`, 'content-type': 'application/grpc', te: 'trailers' })
    s.on('error', () => resolve())
    s.on('close', () => resolve())
    s.resume()
    s.end(Buffer.from([0, 0, 0, 0, 0]))
  })
  for (let i = 0; i < n; i += 32) await Promise.all(Array.from({ length: Math.min(32, n - i) }, (_, k) => one(i + k)))
  session.close()
}

function series (text: string, metric: string): string[] {
  return text.split('\n').filter(l => l.startsWith(metric + '{'))
}

test('random service names under a prefix route and bogus upstream statuses add no series', async t => {
  const up = await statusUpstream()
  t.teardown(() => up.close())
  const gw = await startTestGateway(t, tripleConfig([up.port], {
    routes: [
      { name: 'known', match: { service: 'status_0_Known' }, cluster: 'echo' },
      { name: 'all', match: { service: { prefix: '' } }, cluster: 'echo' },
    ],
  }))
  const port = gw.addresses.triple!.port
  const admin = `http://127.0.0.1:${gw.addresses.admin.port}/metrics`
  const before = series(await (await fetch(admin)).text(), 'isthmus_requests_total').length
  // 2,000 calls, each with its own service name (and grpc-status 0), through the prefix route.
  await calls(port, 2000, i => `status_0_random${i}x${Math.random().toString(36).slice(2)}`)
  // Upstream statuses outside gRPC's range, or not numbers at all.
  for (const bogus of ['77777', 'abc', '-3', '1.5', '16']) await calls(port, 3, () => `status_${bogus}_Known`)
  await calls(port, 5, () => 'status_0_Known')
  const text = await (await fetch(admin)).text()
  const lines = series(text, 'isthmus_requests_total').filter(l => l.includes('listener="triple"'))
  t.true(lines.length - before <= 4, lines.join('\n'))
  const services = new Set(lines.map(l => /service="([^"]*)"/.exec(l)?.[1]))
  for (const s of services) t.true(s === 'other' || s === 'status_0_Known', `service label ${String(s)}`)
  t.true(services.has('other'))
  t.true(services.has('status_0_Known'))
  const otherOk = Number(/isthmus_requests_total\{listener="triple",service="other",status="0"\} (\d+)/.exec(text)?.[1])
  t.true(otherOk >= 2000, lines.join('\n'))
  // The bogus statuses count as `other`; 16 is a real gRPC status and stays.
  const statuses = new Set(lines.map(l => /status="([^"]*)"/.exec(l)?.[1]))
  for (const s of statuses) t.regex(String(s), /^(other|[0-9]|1[0-6])$/)
  t.true(statuses.has('other'))
  t.true(text.length < 200_000, `scrape is ${text.length} bytes`)
})
