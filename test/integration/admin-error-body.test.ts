import test from 'ava'
import { startTestGateway } from '../_helpers/gateway.js'

test('an admin 400 names the resource and the path once', async (t) => {
  const gw = await startTestGateway(t, { entity: 'test', listeners: { triple: { port: 0 }, admin: { port: 0, token: 'tok' } } })
  const res = await fetch(`http://127.0.0.1:${gw.addresses.admin.port}/v1/routes`, {
    method: 'PUT',
    headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
    body: JSON.stringify({ revision: 1, routes: [{ name: 'x', match: {}, cluster: 'nope' }] }),
  })
  t.is(res.status, 400)
  t.deepEqual(await res.json(), { error: { code: 'ISTH_ERR_CONFIG_INVALID', message: 'invalid routes: /routes/0/cluster: unknown cluster "nope"', path: '/routes/0/cluster' } })
})
