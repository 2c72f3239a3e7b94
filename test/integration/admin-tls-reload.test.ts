/** The admin listener's certificate is hot-reloaded like the data listeners'. */
import test from 'ava'
import tls from 'node:tls'
import { copyFileSync, readFileSync, renameSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { makeCa, makeLeaf, tempDir, type LeafPaths } from '../_helpers/pki.js'
import { startTestGateway } from '../_helpers/gateway.js'

function replace (src: LeafPaths, dst: LeafPaths): void {
  copyFileSync(src.key, dst.key + '.new'); renameSync(dst.key + '.new', dst.key)
  copyFileSync(src.cert, dst.cert + '.new'); renameSync(dst.cert + '.new', dst.cert)
}

function servedSerial (port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      const serial = s.getPeerX509Certificate()?.serialNumber ?? ''
      s.destroy()
      resolve(serial)
    })
    s.on('error', reject)
  })
}

test('admin over TLS: a new certificate file is served to new handshakes without a restart', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const ca = await makeCa(tmp.dir, 'acme')
  const srv = await makeLeaf(tmp.dir, ca, 'acme', { app: 'admin', server: true })
  const next = await makeLeaf(tmp.dir, ca, 'acme', { app: 'admin', server: true, name: 'next' })
  const gw = await startTestGateway(t, {
    entity: 'acme',
    listeners: { triple: { port: 0 }, admin: { port: 0, token: 't', tls: { cert: srv.cert, key: srv.key } } },
  })
  const caPem = readFileSync(srv.ca)
  const port = gw.addresses.admin.port
  const before = await servedSerial(port, caPem)
  t.is(before, new X509Certificate(readFileSync(srv.cert)).serialNumber)
  replace(next, srv)
  const want = new X509Certificate(readFileSync(next.cert)).serialNumber
  let now = before
  for (let i = 0; i < 100 && now !== want; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    now = await servedSerial(port, caPem)
  }
  t.is(now, want)
  const res = await fetch(`https://127.0.0.1:${port}/healthz`).catch((e: Error) => e)
  t.true(res instanceof Error, 'plain fetch without the CA is refused (self-signed chain)')
})
