import test from 'ava'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import pino from 'pino'
import { AdminAuth } from '../../admin/auth.js'
import { startAdminServer } from '../../admin/server.js'
import { TlsMaterial } from '../../certs/tls-material.js'
import { makeCa, makeLeaf, tempDir } from '../_helpers/pki.js'

const logger = pino({ level: 'silent' })

function get (port: number, path: string, leaf: { cert: string, key: string, ca: string } | null, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'GET', servername: 'localhost',
      ca: readFileSync(ca),
      ...(leaf === null ? {} : { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }),
    }, res => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
    req.end()
  })
}

test('admin client certificate: listed identity 200, other identity 403', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const caDir = await makeCa(d.dir, 'ops')
  const server = await makeLeaf(d.dir, caDir, 'ops', { app: 'gateway', server: true })
  const good = await makeLeaf(d.dir, caDir, 'ops', { app: 'admin-cli', client: true })
  const other = await makeLeaf(d.dir, caDir, 'ops', { app: 'intruder', client: true })
  const tls = { cert: server.cert, key: server.key, ca: server.ca, requireClientCert: true }
  const material = new TlsMaterial(tls, { baseDir: d.dir, logger, name: 'admin' })
  t.teardown(() => material.close())
  const s = await startAdminServer({
    logger,
    options: { host: '127.0.0.1', port: 0, tls, adminIdentities: ['ops/admin-cli'], maxBodyBytes: 1024 },
    tls: material.secureContextOptions(),
    isReady: () => true,
    listeners: () => ({}),
    drain: async () => {},
    store: null,
  })
  t.teardown(() => s.close())
  const port = s.address.port
  t.is(await get(port, '/v1/listeners', good, server.ca), 200)
  t.is(await get(port, '/v1/listeners', other, server.ca), 403)
  t.is(await get(port, '/healthz', good, server.ca), 200)
})

test('mTLS with admin identities satisfies the non-loopback rule; a token alone does too', t => {
  const base = { port: 0, maxBodyBytes: 1024 }
  t.notThrows(() => new AdminAuth({ ...base, host: '0.0.0.0', adminIdentities: ['ops/admin-cli'] }, true))
  t.notThrows(() => new AdminAuth({ ...base, host: '0.0.0.0', token: 'x' }, false))
  t.throws(() => new AdminAuth({ ...base, host: '0.0.0.0', adminIdentities: ['ops/admin-cli'] }, false), { message: /not a loopback address/ })
  t.notThrows(() => new AdminAuth({ ...base, host: '127.0.0.1' }, false))
  t.notThrows(() => new AdminAuth({ ...base, host: '::1' }, false))
})
