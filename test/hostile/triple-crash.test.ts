/**
 * Issue 9, items 1-4 (Triple): one packet must never kill the process. One spawned gateway
 * (compiled CLI), healthy grpc-js and sofa-rpc-node clients calling it the whole time.
 */
import test from 'ava'
import http, { type Server } from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import {
  H2, H2_PREFACE, RawConn, grpcFields, h2Data, h2Goaway, h2Headers, h2RstStream, h2Settings, h2SettingsAck,
  hostileSuite, openMany, sleep, uncaughtErrors, waitFor, ECHO_SERVICE,
} from '../_helpers/hostile.js'

// An HTTP/1.1 upstream that answers with a header HTTP/2 forbids (`te: gzip`): the gateway
// must not pass it to respond() unchecked (the latent throw in triple-http1.ts's onOk).
let h1Upstream: Server | null = null
const h1Port = await new Promise<number>((resolve) => {
  h1Upstream = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', te: 'gzip' })
      res.end('{"ok":true}')
    })
  })
  h1Upstream.listen(0, '127.0.0.1', () => resolve((h1Upstream!.address() as AddressInfo).port))
  h1Upstream.unref()
})
test.after.always(() => { h1Upstream?.close() })

const suite = hostileSuite(test, {
  clusters: () => [{ name: 'h1up', protocol: 'http1', hosts: [{ address: '127.0.0.1', port: h1Port }] }],
  routes: [{ name: 'to-h1', match: { protocol: 'triple', service: 'hostile.H1' }, cluster: 'h1up', timeoutMs: 5000 }],
})

test.serial('item 1: 200 connections to the plain Triple port that reset (RST) before sending a byte: the gateway lives, healthy clients see no error', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  for (let round = 0; round < 4; round++) {
    const conns = await openMany(gw.triplePort, 50)
    for (const c of conns) c.rst()
    await sleep(30)
  }
  // The same after a few bytes of either preface, and on the Bolt port.
  for (const start of [H2_PREFACE.subarray(0, 5), Buffer.from('POST /x HTT')]) {
    const conns = await openMany(gw.triplePort, 20)
    for (const c of conns) { c.write(start); c.rst() }
  }
  for (const c of await openMany(gw.boltPort, 20)) c.rst()
  await gw.expectRecovered(t, mark, 'RST-before-first-byte connections')
  t.deepEqual(uncaughtErrors(gw), [])
})

test.serial('item 2: preface + SETTINGS + HEADERS + GOAWAY(PROTOCOL_ERROR) in one write: the gateway lives', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const conns: RawConn[] = []
  for (let i = 0; i < 30; i++) {
    const c = await gw.connect(gw.triplePort)
    conns.push(c)
    c.write(Buffer.concat([
      H2_PREFACE, h2Settings(), h2SettingsAck(),
      h2Headers(1, grpcFields(`/${ECHO_SERVICE}/Unary`)),
      h2Goaway(0, H2.PROTOCOL_ERROR),
    ]))
  }
  await waitFor(() => conns.every(c => c.isClosed) || !gw.alive(), 'the gateway to close the GOAWAY connections')
  await gw.expectRecovered(t, mark, 'HEADERS + GOAWAY in one write')
  t.deepEqual(uncaughtErrors(gw), [])
})

test.serial('item 2: rapid-reset connections (HEADERS + RST_STREAM pairs, then FIN) in one write: the gateway lives', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const conns: RawConn[] = []
  for (let i = 0; i < 20; i++) {
    const c = await gw.connect(gw.triplePort)
    conns.push(c)
    const frames: Buffer[] = [H2_PREFACE, h2Settings(), h2SettingsAck()]
    for (let s = 1; s < 2 * 60; s += 2) frames.push(h2Headers(s, grpcFields(`/${ECHO_SERVICE}/Unary`)), h2RstStream(s, H2.CANCEL))
    c.write(Buffer.concat(frames))
    c.socket.end()
  }
  // And the same where the body starts before the reset.
  for (let i = 0; i < 10; i++) {
    const c = await gw.connect(gw.triplePort)
    conns.push(c)
    const frames: Buffer[] = [H2_PREFACE, h2Settings()]
    for (let s = 1; s < 2 * 30; s += 2) frames.push(h2Headers(s, grpcFields(`/${ECHO_SERVICE}/Unary`)), h2Data(s, Buffer.from([0, 0, 0, 0, 2, 10, 0])), h2RstStream(s, H2.CANCEL))
    c.write(Buffer.concat(frames))
    c.socket.end()
  }
  await waitFor(() => conns.every(c => c.isClosed) || !gw.alive(), 'the rapid-reset connections to close')
  await gw.expectRecovered(t, mark, 'rapid-reset bursts')
  t.deepEqual(uncaughtErrors(gw), [])
})

test.serial('item 3: an HTTP/1.1 request with `TE: gzip` routed to an HTTP/2 cluster gets an HTTP answer (no synchronous throw kills the process)', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const answers: string[] = []
  for (let i = 0; i < 5; i++) {
    const c = await gw.connect(gw.triplePort)
    const body = '{}'
    c.write(`POST /${ECHO_SERVICE}/Unary HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ntri-protocol-version: 1.0.0\r\nTE: gzip\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`)
    await Promise.race([c.closed, sleep(10000)])
    answers.push(c.received.toString('latin1'))
    c.destroy()
  }
  t.true(gw.alive(), gw.describeExit())
  for (const a of answers) t.regex(a, /^HTTP\/1\.1 [1-5]\d\d /, 'each request got an HTTP status line')
  await gw.expectRecovered(t, mark, 'TE: gzip over HTTP/1.1')
})

test.serial('item 4 (latent, triple-http1): an HTTP/1.1 upstream answering with a header HTTP/2 forbids (`te: gzip`) fails that call, not the process', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const results: Array<{ status: string | number | undefined, rst: number | undefined }> = []
  for (let i = 0; i < 3; i++) {
    const session = http2.connect(`http://127.0.0.1:${gw.triplePort}`)
    session.on('error', () => {})
    const req = session.request({ ':method': 'POST', ':path': '/hostile.H1/Call', 'content-type': 'application/json', 'tri-protocol-version': '1.0.0' })
    req.on('error', () => {})
    let status: string | number | undefined
    req.on('response', (h) => { status = h[':status'] })
    req.resume()
    req.end('{}')
    await Promise.race([new Promise(resolve => req.on('close', resolve)), sleep(10000)])
    results.push({ status, rst: req.rstCode })
    session.destroy()
    await sleep(100)
  }
  t.true(gw.alive(), gw.describeExit())
  // The call ends one way or another (an error status or a stream reset), never by the process dying.
  for (const r of results) t.true(r.status !== undefined || r.rst !== undefined, JSON.stringify(r))
  await gw.expectRecovered(t, mark, 'an upstream answer with a connection-specific header')
})
