/**
 * Request-body backpressure: an upstream that stops reading stops the client's upload at the
 * gateway (bounded buffering), and the upload resumes when the upstream reads again ('drain'
 * on the upstream stream is attached only once a write returned false).
 */
import test from 'ava'
import http2, { type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { startTestGateway, tripleConfig } from '../_helpers/gateway.js'

const TOTAL = 24 * 1024 * 1024

test('backpressure: an upstream that does not read stops the upload; reading again completes the call', async (t) => {
  let received = 0
  let upStream: ServerHttp2Stream | null = null
  const server = http2.createServer()
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)) })
  server.on('stream', (stream) => {
    upStream = stream
    stream.on('error', () => {})
    stream.pause() // read nothing until told
    stream.on('data', (c: Buffer) => { received += c.length })
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-received': String(received) }))
      stream.end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()) }))

  const gw = await startTestGateway(t, tripleConfig([(server.address() as AddressInfo).port]))
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.triple!.port}`)
  t.teardown(() => session.destroy())
  const req = session.request({ ':method': 'POST', ':path': '/pkg.Svc/Upload', 'content-type': 'application/grpc', te: 'trailers' })
  req.on('error', () => {})
  const trailers = new Promise<http2.IncomingHttpHeaders>(resolve => req.on('trailers', resolve))
  req.resume()

  // Write as fast as the gateway accepts; count what it actually took off the client's hands.
  const chunk = Buffer.alloc(64 * 1024)
  let written = 0
  const pump = (): void => {
    while (written < TOTAL) {
      written += chunk.length
      if (!req.write(chunk)) { req.once('drain', pump); return }
    }
    req.end()
  }
  pump()
  await new Promise(resolve => setTimeout(resolve, 800))
  t.true(written < 12 * 1024 * 1024, `the client wrote ${written} bytes while the upstream read nothing`)
  t.not(upStream, null)

  upStream!.resume()
  const tr = await trailers
  t.is(tr['grpc-status'], '0')
  t.is(Number(tr['x-received']), TOTAL)
})

test('backpressure: a client that stops reading pauses the upstream; reading again completes the response', async (t) => {
  let written = 0
  const chunk = Buffer.alloc(64 * 1024)
  const server = http2.createServer()
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)) })
  server.on('stream', (stream) => {
    stream.on('error', () => {})
    stream.resume()
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    const pump = (): void => {
      while (written < TOTAL) {
        written += chunk.length
        if (!stream.write(chunk)) { stream.once('drain', pump); return }
      }
      stream.end()
    }
    pump()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()) }))

  const gw = await startTestGateway(t, tripleConfig([(server.address() as AddressInfo).port]))
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.triple!.port}`)
  t.teardown(() => session.destroy())
  const req = session.request({ ':method': 'POST', ':path': '/pkg.Svc/Download', 'content-type': 'application/grpc', te: 'trailers' })
  req.on('error', () => {})
  req.end()
  req.pause()
  let got = 0
  const trailers = new Promise<http2.IncomingHttpHeaders>(resolve => req.on('trailers', resolve))
  await new Promise(resolve => setTimeout(resolve, 800))
  t.true(written < 12 * 1024 * 1024, `upstream wrote ${written} bytes while the client read nothing`)
  req.on('data', (c: Buffer) => { got += c.length })
  req.resume()
  const tr = await trailers
  t.is(tr['grpc-status'], '0')
  t.is(got, TOTAL)
})
