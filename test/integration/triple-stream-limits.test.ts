/**
 * Stream caps (issue 9, item 8): per session (SETTINGS_MAX_CONCURRENT_STREAMS, default 100)
 * and over the whole listener (`limits.maxStreams`): streams past the listener cap are refused
 * with RST_STREAM(REFUSED_STREAM) and counted, before any work is done for them.
 */
import test from 'ava'
import http2 from 'node:http2'
import { grpcFrame, startRawH2 } from '../_peers/raw-h2.js'
import * as F from '../_peers/h2-frames.js'
import { tripleConfig } from '../_helpers/gateway.js'
import { eventually, sleep, spawnTriple } from '../_helpers/spawned-triple.js'

const { NGHTTP2_REFUSED_STREAM } = http2.constants

async function holdingUpstream (t: import('ava').ExecutionContext): Promise<{ port: number, held: http2.ServerHttp2Stream[], release: () => void, seen: () => number }> {
  const held: http2.ServerHttp2Stream[] = []
  let released = false
  const answer = (stream: http2.ServerHttp2Stream): void => {
    if (stream.destroyed) return
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(grpcFrame(Buffer.from('ok')))
  }
  const up = await startRawH2((stream) => { if (released) answer(stream); else held.push(stream) })
  t.teardown(() => up.close())
  return { port: up.port, held, release: () => { released = true; for (const s of held) answer(s) }, seen: () => up.requests.length }
}

function limited (port: number, maxConcurrentStreams: number, maxStreams: number): Record<string, unknown> {
  const cfg = tripleConfig([port])
  ;(cfg.clusters as Array<Record<string, unknown>>)[0].upstream = { maxConcurrentStreams: 1000 }
  const triple = (cfg.listeners as { triple: Record<string, unknown> }).triple
  triple.http2 = { maxConcurrentStreams }
  triple.limits = { maxStreams }
  return cfg
}

test('item 8: streams past the listener total are refused with REFUSED_STREAM and counted; the accepted ones complete', async (t) => {
  const up = await holdingUpstream(t)
  const gw = await spawnTriple(t, limited(up.port, 10, 25))
  const sessions = await Promise.all(Array.from({ length: 5 }, async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.port}`)
    s.on('error', () => {})
    t.teardown(() => s.destroy())
    await new Promise(resolve => s.once('remoteSettings', resolve))
    return s
  }))
  const results: Array<Promise<{ rst: number, status: string | undefined }>> = []
  for (const s of sessions) {
    for (let i = 0; i < 10; i++) {
      const req = s.request({ ':method': 'POST', ':path': '/pkg.Svc/Hold', 'content-type': 'application/grpc', te: 'trailers' })
      req.on('error', () => {})
      let status: string | undefined
      req.on('trailers', (h) => { status = h['grpc-status'] as string })
      req.resume()
      req.end(grpcFrame(Buffer.from('x')))
      results.push(new Promise(resolve => req.on('close', () => resolve({ rst: req.rstCode ?? 0, status }))))
    }
  }
  t.true(await eventually(() => up.held.length === 25))
  await sleep(200)
  t.is(up.held.length, 25, 'no stream past the cap reached the upstream')
  t.is(await gw.metric('isthmus_limit_trips_total', { listener: 'triple', limit: 'streams' }), 25)
  up.release()
  const done = await Promise.all(results)
  t.is(done.filter(r => r.rst === NGHTTP2_REFUSED_STREAM).length, 25)
  t.is(done.filter(r => r.status === '0').length, 25)
  t.true(gw.alive())
})

test('item 8: a client that ignores SETTINGS and opens 200 streams at once gets at most maxConcurrentStreams', async (t) => {
  const up = await holdingUpstream(t)
  const gw = await spawnTriple(t, limited(up.port, 10, 10000))
  const c = await F.rawConnect(gw.port)
  t.teardown(() => c.socket.destroy())
  const parts = [F.PREFACE, F.settings()]
  for (let id = 1; id < 400; id += 2) parts.push(F.headers(id, F.grpcRequest('/pkg.Svc/Hold'), true))
  c.socket.write(Buffer.concat(parts))
  t.true(await eventually(() => up.seen() >= 10))
  await sleep(300)
  t.is(up.seen(), 10, 'streams past the session cap never reach the upstream')
  t.is(F.rstCodes(c.received()).get(399), NGHTTP2_REFUSED_STREAM)
  up.release()
  t.true(gw.alive())
})
