/**
 * The listener's sweep looks at a session when its next bound is due, not every tick: an event
 * that brings a bound closer must bring the look closer too. Here a call is held open (the next
 * look is the probe's, idleTimeoutMs away, 90 s by default), then the client sends GOAWAY: the
 * session must still be destroyed once goawayGraceMs passes.
 */
import test from 'ava'
import http2 from 'node:http2'
import { setTimeout as sleep } from 'node:timers/promises'
import { grpcFrame, startRawH2 } from '../_peers/raw-h2.js'
import * as F from '../_peers/h2-frames.js'
import { tripleConfig } from '../_helpers/gateway.js'
import { eventually, spawnTriple } from '../_helpers/spawned-triple.js'

test('a GOAWAY received long after the sweep last looked (its next look far off) is still bounded by goawayGraceMs', async (t) => {
  const held: http2.ServerHttp2Stream[] = []
  const up = await startRawH2((stream) => { held.push(stream) })
  t.teardown(() => up.close())
  const cfg = tripleConfig([up.port])
  ;(cfg.listeners as { triple: Record<string, unknown> }).triple.limits = { goawayGraceMs: 600 } // sweep tick 150 ms
  const gw = await spawnTriple(t, cfg)
  const c = await F.rawConnect(gw.port)
  c.socket.write(Buffer.concat([F.PREFACE, F.settings(), F.headers(1, F.grpcRequest('/pkg.Svc/Hold')), F.data(1, grpcFrame(Buffer.from('x')), true)]))
  t.true(await eventually(() => held.length === 1))
  // Not a bound asserted: several sweep ticks pass, so the sweep has looked at the session
  // with its call in flight and put it off until the probe's time.
  await sleep(1000)
  const start = Date.now()
  c.socket.write(F.goaway(0, http2.constants.NGHTTP2_NO_ERROR)) // and the call never ends
  await c.closed
  t.true(Date.now() - start >= 550)
  t.is(await gw.metric('isthmus_limit_trips_total', { listener: 'triple', limit: 'goaway_grace' }), 1)
  t.true(gw.alive())
})
