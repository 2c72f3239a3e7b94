/**
 * One slow client never stalls others (issue 9; `limits.maxBufferedBytesPerClient` for
 * Triple): response bytes held for a client that reads nothing are capped (past the cap its
 * session is closed), the upstream session shared with healthy clients is never paused for
 * it (only its own streams are, and each stream holds at most its window of the session's
 * large connection window), and a failure the gateway caused by holding an upstream stream's
 * reads does not count against the host.
 */
import test from 'ava'
import http2 from 'node:http2'
import { grpcFrame, startRawH2, type RawH2Server } from '../_peers/raw-h2.js'
import * as F from '../_peers/h2-frames.js'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'
import { eventually, spawnTriple } from '../_helpers/spawned-triple.js'

const BIG = 8 * 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 0x62)

/** /big streams 8 MiB with backpressure (and resets it when blocked longer than `stallMs`);
 *  anything else answers at once. */
async function bigUpstream (t: import('ava').ExecutionContext, stallMs = 0): Promise<RawH2Server & { stallResets: () => number }> {
  let stallResets = 0
  const up = await startRawH2((stream, headers) => {
    if (stream.destroyed) return
    if (headers[':path'] !== '/pkg.Svc/Big') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(grpcFrame(Buffer.from('small')))
      return
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    let sent = 0
    let stall: NodeJS.Timeout | null = null
    const pump = (): void => {
      if (stall !== null) { clearTimeout(stall); stall = null }
      while (sent < BIG && !stream.destroyed) {
        sent += CHUNK.length
        if (!stream.write(CHUNK)) {
          stream.once('drain', pump)
          // The upstream's own write-stall guard: a reader that takes nothing is reset.
          if (stallMs > 0) stall = setTimeout(() => { if (!stream.destroyed) { stallResets++; stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR) } }, stallMs)
          return
        }
      }
      if (!stream.destroyed) stream.end()
    }
    pump()
  })
  t.teardown(() => up.close())
  return Object.assign(up, { stallResets: () => stallResets })
}

function oneSession (port: number, limits: Record<string, unknown> = {}, outlier?: Record<string, unknown>): Record<string, unknown> {
  const cfg = tripleConfig([port])
  const c = (cfg.clusters as Array<Record<string, unknown>>)[0]
  c.upstream = { maxConnections: 1 } // healthy and slow clients share one upstream session
  if (outlier !== undefined) c.outlier = outlier
  ;(cfg.listeners as { triple: Record<string, unknown> }).triple.limits = limits
  return cfg
}

/** A client that asks for `paths` and then reads nothing: no WINDOW_UPDATE, socket paused. */
async function nonReader (port: number, paths: string[]): Promise<F.RawConn> {
  const c = await F.rawConnect(port)
  c.socket.pause()
  const parts = [F.PREFACE, F.settings()]
  paths.forEach((p, i) => parts.push(F.headers(1 + 2 * i, F.grpcRequest(p)), F.data(1 + 2 * i, grpcFrame(Buffer.from('go')), true)))
  c.socket.write(Buffer.concat(parts))
  return c
}

/** A reading client: total response bytes and the final grpc-status. */
function fetchAll (session: http2.ClientHttp2Session, path: string): Promise<{ bytes: number, status: string | undefined }> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' })
    let bytes = 0
    let status: string | undefined
    req.on('data', (c: Buffer) => { bytes += c.length })
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) status = h['grpc-status'] as string })
    req.on('trailers', (h) => { status = h['grpc-status'] as string })
    req.on('error', () => {})
    req.on('close', () => resolve({ bytes, status }))
    req.end(grpcFrame(Buffer.from('x')))
  })
}

test('a client that reads nothing is closed past maxBufferedBytesPerClient; the shared upstream session keeps serving the others', async (t) => {
  const up = await bigUpstream(t)
  const gw = await spawnTriple(t, oneSession(up.port, { maxBufferedBytesPerClient: 1024 * 1024 }))
  const healthy = http2.connect(`http://127.0.0.1:${gw.port}`)
  t.teardown(() => healthy.destroy())
  healthy.on('error', () => {})
  t.is((await fetchAll(healthy, '/pkg.Svc/Small')).status, '0')
  const slow = await nonReader(gw.port, ['/pkg.Svc/Big', '/pkg.Svc/Big', '/pkg.Svc/Big', '/pkg.Svc/Big'])
  t.teardown(() => slow.socket.destroy())
  // Healthy calls on the same upstream session while the slow client fills up.
  for (let i = 0; i < 20; i++) t.is((await fetchAll(healthy, '/pkg.Svc/Small')).status, '0')
  // Closed by the gateway although it still reads nothing (so it cannot even see the FIN).
  t.true(await eventually(async () => await gw.metric('isthmus_downstream_connections', { listener: 'triple' }) === 1), 'only the healthy client is left')
  t.true(await gw.metric('isthmus_limit_trips_total', { listener: 'triple', limit: 'buffered_bytes' }) >= 1)
  const big = await fetchAll(healthy, '/pkg.Svc/Big')
  t.is(big.status, '0')
  t.true(big.bytes >= BIG)
  t.is(up.sessions(), 1, 'the shared upstream session was never torn down')
  t.true(gw.alive())
})

test('a stream held for a slow client never stalls its upstream session (it holds only its own stream window)', async (t) => {
  const up = await bigUpstream(t)
  // No buffered-bytes cap in the way: the slow client stays connected.
  const gw = await spawnTriple(t, oneSession(up.port, { maxBufferedBytesPerClient: 256 * 1024 * 1024 }))
  const slow = await nonReader(gw.port, ['/pkg.Svc/Big'])
  t.teardown(() => slow.socket.destroy())
  await new Promise(resolve => setTimeout(resolve, 500)) // the held stream takes what it can
  const healthy = http2.connect(`http://127.0.0.1:${gw.port}`)
  t.teardown(() => healthy.destroy())
  healthy.on('error', () => {})
  const results = await Promise.all([fetchAll(healthy, '/pkg.Svc/Big'), fetchAll(healthy, '/pkg.Svc/Big')])
  for (const r of results) { t.is(r.status, '0'); t.true(r.bytes >= BIG) }
  t.is(up.sessions(), 1)
  t.false(slow.isClosed())
})

test('an upstream reset that follows the gateway holding its reads (a slow client) does not eject the host', async (t) => {
  const up = await bigUpstream(t, 300)
  const gw = await startTestGateway(t, oneSession(up.port, { maxBufferedBytesPerClient: 256 * 1024 * 1024 }, { consecutiveFailures: 1, ejectMs: 60000 }))
  const port = gw.addresses.triple!.port
  const slow = await nonReader(port, ['/pkg.Svc/Big'])
  t.teardown(() => slow.socket.destroy())
  // The upstream gives up on the stream the gateway holds for the slow client.
  t.true(await eventually(() => up.stallResets() === 1))
  await new Promise(resolve => setTimeout(resolve, 200))
  const healthy = http2.connect(`http://127.0.0.1:${port}`)
  t.teardown(() => healthy.destroy())
  healthy.on('error', () => {})
  t.is((await fetchAll(healthy, '/pkg.Svc/Small')).status, '0', 'the host is still in service')
})
