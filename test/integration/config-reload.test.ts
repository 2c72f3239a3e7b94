/**
 * Config reload through the real command: SIGHUP and POST /v1/reload re-read the file and
 * swap it in under grpc-js load with zero failed calls; a bad file or a listener change is
 * refused with one log line and the running config stays; resources pushed through the admin
 * API survive a reload.
 */
import test, { type ExecutionContext } from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { spawnGateway, type RunningGateway } from '../_helpers/cli.js'
import { httpJson } from '../_helpers/http.js'
import { echoClient, startEchoServer, unary, type EchoClient, type EchoServer } from '../_peers/grpc-echo.js'

const TOKEN = 'reload-token'

function yaml (o: { hosts: number[], tag?: string, triplePort?: number, extraRoutes?: string }): string {
  return `entity: acme
listeners:
  triple: { host: 127.0.0.1, port: ${o.triplePort ?? 0} }
  admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }
clusters:
  - name: echo
    protocol: triple
    hosts: [${o.hosts.map(p => `{ address: 127.0.0.1, port: ${p} }`).join(', ')}]
routes:
${o.extraRoutes ?? ''}  - { name: all, match: { service: { prefix: "" } }, cluster: echo }
filters:
  - { name: headers, config: { response: { set: { x-config: ${o.tag ?? 'one'} } } } }
log: { level: info, access: off }
drain: { timeoutMs: 2000 }
`
}

interface Setup { dir: string, file: string, a: EchoServer, b: EchoServer, gw: RunningGateway, client: EchoClient }

async function setup (t: ExecutionContext): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-reload-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const a = await startEchoServer('a')
  const b = await startEchoServer('b')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const file = join(dir, 'isthmus.yaml')
  writeFileSync(file, yaml({ hosts: [a.port] }))
  const gw = await spawnGateway(file, ['triple', 'admin'])
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const client = echoClient(gw.ports.triple)
  t.teardown(() => client.close())
  return { dir, file, a, b, gw, client }
}

/** Poll the gateway's JSON log lines (generous bound: this is not a timing assertion). */
async function waitForLog (gw: RunningGateway, from: number, pred: (r: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30000
  for (;;) {
    const hit = gw.logs.slice(from).find(pred)
    if (hit !== undefined) return hit
    if (Date.now() > deadline) throw new Error(`log line not seen; got: ${JSON.stringify(gw.logs.slice(from))}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function admin (gw: RunningGateway, method: string, path: string, body?: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const r = await httpJson(gw.ports.admin, method, path, body, { authorization: `Bearer ${TOKEN}` })
  return { status: r.status, body: r.body as Record<string, unknown> }
}

/** Steady load: `inFlight` loops of unary calls until stop(); counts by upstream and failures. */
function load (client: EchoClient, inFlight = 8): { servedBy: Map<string, number>, failures: string[], stop (): Promise<void> } {
  const servedBy = new Map<string, number>()
  const failures: string[] = []
  let running = true
  const loop = async (): Promise<void> => {
    while (running) {
      try {
        const r = await unary(client, { message: 'x' })
        servedBy.set(r.reply.servedBy, (servedBy.get(r.reply.servedBy) ?? 0) + 1)
      } catch (err) {
        failures.push(`${(err as grpc.ServiceError).code}: ${(err as Error).message}`)
      }
    }
  }
  const loops = Array.from({ length: inFlight }, loop)
  return { servedBy, failures, stop: async () => { running = false; await Promise.all(loops) } }
}

async function until (cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 30000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

test('SIGHUP applies the edited file under grpc-js load with zero failed calls', async (t) => {
  const s = await setup(t)
  const l = load(s.client)
  await until(() => (l.servedBy.get('a') ?? 0) >= 50)
  const mark = s.gw.logs.length
  writeFileSync(s.file, yaml({ hosts: [s.b.port], tag: 'two' }))
  s.gw.child.kill('SIGHUP')
  const line = await waitForLog(s.gw, mark, r => typeof r.msg === 'string' && r.msg.startsWith('config reloaded'))
  t.like(line, { msg: 'config reloaded', changed: true, file: s.file, shadowed: [] })
  const bBefore = s.b.calls
  await until(() => s.b.calls - bBefore >= 50)
  await l.stop()
  t.deepEqual(l.failures, [])
  t.true((l.servedBy.get('b') ?? 0) >= 50)
  // The new chain is live too, and the old host gets nothing new.
  const aNow = s.a.calls
  const r = await unary(s.client, { message: 'after' })
  t.is(r.reply.servedBy, 'b')
  t.is(r.headers.get('x-config')[0], 'two')
  t.is(s.a.calls, aNow)
  t.is(s.gw.child.exitCode, null)
})

test('an invalid file keeps the running config and logs one line; a fixed file then applies', async (t) => {
  const s = await setup(t)
  const bad: Array<[string, RegExp]> = [
    ['entity: acme\nlisteners: [\n', /YAML syntax error/],
    [yaml({ hosts: [s.b.port] }).replace('protocol: triple', 'protocol: smtp'), /\/clusters\/0\/protocol: must be one of/],
    [yaml({ hosts: [s.b.port] }).replace('{ name: headers, config: { response:', '{ name: headers, config: { respons:'), /\/filters\/0\/config\/respons: is not a known key/],
  ]
  for (const [text, expected] of bad) {
    const mark = s.gw.logs.length
    writeFileSync(s.file, text)
    s.gw.child.kill('SIGHUP')
    const line = await waitForLog(s.gw, mark, r => r.msg !== undefined && String(r.msg).startsWith('config reload'))
    t.is(line.level, 50)
    t.regex(String(line.msg), /^config reload refused, running config kept: invalid config: /)
    t.regex(String(line.msg), expected)
    t.true(String(line.msg).includes(s.file), 'names the file')
    t.is(line.code, 'ISTH_ERR_CONFIG_INVALID')
    t.is(line.err, undefined, 'no stack')
    // Exactly one line for the refusal.
    t.is(s.gw.logs.slice(mark).filter(r => String(r.msg).includes('reload')).length, 1)
    t.is((await unary(s.client, { message: 'x' })).reply.servedBy, 'a')
  }
  const mark = s.gw.logs.length
  writeFileSync(s.file, yaml({ hosts: [s.b.port] }))
  s.gw.child.kill('SIGHUP')
  await waitForLog(s.gw, mark, r => r.msg === 'config reloaded')
  t.is((await unary(s.client, { message: 'x' })).reply.servedBy, 'b')
})

test('POST /v1/reload: 200 with the generation; a listener address change is refused (409, needs a restart)', async (t) => {
  const s = await setup(t)
  const same = await admin(s.gw, 'POST', '/v1/reload')
  t.is(same.status, 200)
  t.like(same.body, { changed: false, file: s.file })

  writeFileSync(s.file, yaml({ hosts: [s.b.port], triplePort: 1 }))
  const moved = await admin(s.gw, 'POST', '/v1/reload')
  t.is(moved.status, 409)
  t.deepEqual(moved.body, {
    error: {
      code: 'ISTH_ERR_CONFIG_RESTART_REQUIRED',
      message: `needs a restart: ${s.file}: /listeners/triple/port: changed from 0 to 1; listeners cannot change while running: restart the gateway`,
      path: '/listeners/triple/port',
    },
  })
  t.is((await unary(s.client, { message: 'x' })).reply.servedBy, 'a', 'nothing of that file applied')

  writeFileSync(s.file, yaml({ hosts: [s.b.port] }))
  const ok = await admin(s.gw, 'POST', '/v1/reload')
  t.is(ok.status, 200)
  t.like(ok.body, { changed: true })
  t.true(typeof ok.body.generation === 'number' && ok.body.generation > (same.body.generation as number))
  t.is((await unary(s.client, { message: 'x' })).reply.servedBy, 'b')
})

test('resources pushed through the admin API survive a reload; file changes they override are reported as shadowed', async (t) => {
  const s = await setup(t)
  // A discovered app (its own cluster and auto-route) and an explicit route list.
  const app = await admin(s.gw, 'PUT', '/v1/discovery/apps/b-app', {
    revision: 1,
    instances: [{ address: '127.0.0.1', port: s.b.port, protocols: ['triple'] }],
    services: [{ name: 'isthmus.test.Echo' }],
  })
  t.is(app.status, 200, JSON.stringify(app.body))
  const routes = await admin(s.gw, 'PUT', '/v1/routes', { revision: 1, routes: [{ name: 'pushed', match: { service: 'nothing.Matches' }, cluster: 'echo' }] })
  t.is(routes.status, 200, JSON.stringify(routes.body))
  // Pushed routes replace the file's list: the call now takes the discovery auto-route to b.
  t.is((await unary(s.client, { message: 'x' })).reply.servedBy, 'b')

  writeFileSync(s.file, yaml({ hosts: [s.a.port], tag: 'two', extraRoutes: '  - { name: file-only, match: { service: other.Svc }, cluster: echo }\n' }))
  const r = await admin(s.gw, 'POST', '/v1/reload')
  t.is(r.status, 200, JSON.stringify(r.body))
  t.like(r.body, { changed: true, shadowed: ['/routes'] })
  const after = await unary(s.client, { message: 'x' })
  t.is(after.reply.servedBy, 'b', 'the discovered app still routes the call')
  t.is(after.headers.get('x-config')[0], 'two', 'the file change applied')
  const clusters = await admin(s.gw, 'GET', '/v1/clusters')
  t.deepEqual((clusters.body.clusters as Array<{ name: string }>).map(c => c.name).sort(), ['b-app:triple', 'echo'])
  const listed = await admin(s.gw, 'GET', '/v1/routes')
  t.deepEqual((listed.body.routes as Array<{ name: string }>).map(x => x.name), ['pushed'])
  t.is(listed.body.revision, 1)
})
