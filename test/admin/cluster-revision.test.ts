/** GET /v1/clusters reports the revision of the push a discovered cluster comes from. */
import test from 'ava'
import { baseOptions, startAdmin } from '../_helpers/admin.js'

test('a discovered cluster shows the revision of its app push (app-level) or of the newest interface-level push', async (t) => {
  const h = await startAdmin(baseOptions())
  t.teardown(() => h.close())
  const instance = { address: '127.0.0.1', port: 50051, protocols: ['triple'] }
  t.is((await h.call('PUT', '/v1/discovery/apps/greeter-app', { revision: 3, instances: [instance], services: [{ name: 'isthmus.example.Greeter' }] })).status, 200)
  t.is((await h.call('PUT', '/v1/discovery/services/com.example.Echo', { revision: 7, app: 'echo-app', providers: [instance] })).status, 200)
  t.is((await h.call('PUT', '/v1/clusters/own', { revision: 5, protocol: 'bolt' })).status, 200)
  const list = (await h.call('GET', '/v1/clusters')).body as { clusters: Array<{ name: string, source: string, revision: number }> }
  const byName = Object.fromEntries(list.clusters.map(c => [c.name, c]))
  t.like(byName['greeter-app:triple'], { source: 'discovery', revision: 3 })
  t.like(byName['echo-app:triple'], { source: 'discovery', revision: 7 })
  t.like(byName.own, { source: 'admin', revision: 5 })
  t.like((await h.call('GET', '/v1/clusters/greeter-app:triple')).body, { source: 'discovery', revision: 3 })
})
