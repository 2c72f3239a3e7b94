/**
 * The example filter's test, written as a filter author outside this repository would: a real
 * gRPC upstream, the `isthmus` command with a config that loads the filter, a gRPC client.
 * Nothing here reaches into the gateway's internals.
 *
 * In this repository the command is dist/bin/isthmus.js (`npm test` builds it) and it runs
 * under tsx so the config can name the .ts file; in your project use node_modules/.bin/isthmus
 * and the compiled .js.
 */
import test, { type ExecutionContext } from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'

const here = fileURLToPath(new URL('.', import.meta.url))
const root = join(here, '..', '..')
const isthmus = [process.execPath, '--import', 'tsx', join(root, 'dist', 'bin', 'isthmus.js')]
const filterModule = join(here, 'tenant-guard.ts')

interface Greeter extends grpc.Client {
  sayHello (req: { name: string }, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, reply: { message: string }) => void): void
}
type GreeterCtor = (new (address: string, creds: grpc.ChannelCredentials) => Greeter) & { service: grpc.ServiceDefinition }
const def = loader.loadSync(join(root, 'examples', 'proto', 'greeter.proto'))
const { Greeter } = (grpc.loadPackageDefinition(def) as unknown as { isthmus: { example: { Greeter: GreeterCtor } } }).isthmus.example

async function startGreeter (t: ExecutionContext): Promise<number> {
  const server = new grpc.Server()
  server.addService(Greeter.service, {
    sayHello: (call: { request: { name: string } }, cb: (err: null, reply: object) => void) => { cb(null, { message: `Hello ${call.request.name}` }) },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => err ? reject(err) : resolve(p)))
  t.teardown(() => { server.forceShutdown() })
  return port
}

function writeConfig (t: ExecutionContext, upstreamPort: number, filterConfig: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-guard-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'isthmus.yaml')
  writeFileSync(file, `entity: acme
listeners:
  triple: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
clusters:
  - { name: greeter, protocol: triple, hosts: [{ address: 127.0.0.1, port: ${upstreamPort} }] }
routes:
  - { name: greeter, match: { service: isthmus.example.Greeter }, cluster: greeter }
filters:
  - name: tenant-guard
    module: ${JSON.stringify(filterModule)}
    config: ${filterConfig}
log: { level: info, access: off }
`)
  return file
}

interface Run { code: number | null, stdout: string, stderr: string }

function run (args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(isthmus[0], [...isthmus.slice(1), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.on('error', reject)
    child.on('close', (code) => { resolve({ code, stdout, stderr }) })
  })
}

/** Start the gateway and resolve with its Triple port once it logged it. */
function startGateway (t: ExecutionContext, config: string): Promise<number> {
  const child: ChildProcess = spawn(isthmus[0], [...isthmus.slice(1), 'start', '-c', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString()
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        const rec = JSON.parse(line) as { msg?: string, listener?: string, port?: number }
        if (rec.msg === 'listening' && rec.listener === 'triple') resolve(rec.port!)
      }
    })
    child.on('close', (code) => { reject(new Error(`gateway exited ${code}: ${stderr}`)) })
  })
}

function call (port: number, tenant: string | undefined): Promise<{ code: number, details: string, message?: string }> {
  const client = new Greeter(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  const md = new grpc.Metadata()
  if (tenant !== undefined) md.set('x-tenant', tenant)
  return new Promise((resolve) => {
    client.sayHello({ name: 'Ada' }, md, (err, reply) => {
      client.close()
      resolve(err === null ? { code: grpc.status.OK, details: '', message: reply.message } : { code: err.code, details: err.details })
    })
  })
}

test('allowed tenants pass; an unknown tenant is PERMISSION_DENIED, a missing header UNAUTHENTICATED', async (t) => {
  const upstream = await startGreeter(t)
  const port = await startGateway(t, writeConfig(t, upstream, '{ allowed: [t1, t2] }'))
  t.like(await call(port, 't1'), { code: grpc.status.OK, message: 'Hello Ada' })
  t.like(await call(port, 't2'), { code: grpc.status.OK })
  t.deepEqual(await call(port, 't3'), { code: grpc.status.PERMISSION_DENIED, details: 'denied: unknown tenant' })
  t.deepEqual(await call(port, undefined), { code: grpc.status.UNAUTHENTICATED, details: 'unauthenticated: no x-tenant header' })
})

test('the option "missing: denied" turns a missing header into PERMISSION_DENIED', async (t) => {
  const upstream = await startGreeter(t)
  const port = await startGateway(t, writeConfig(t, upstream, '{ allowed: [t1], missing: denied }'))
  t.deepEqual(await call(port, undefined), { code: grpc.status.PERMISSION_DENIED, details: 'denied: no x-tenant header' })
})

test('bad options fail `isthmus start --check` with the file and the JSON path', async (t) => {
  const empty = writeConfig(t, 1, '{ allowed: [] }')
  const r1 = await run(['start', '--check', '-c', empty])
  t.is(r1.code, 2)
  t.is(r1.stderr, `isthmus: invalid config: ${empty}: /filters/0/config/allowed: allow at least one tenant\n`)
  const typo = writeConfig(t, 1, '{ allowed: [t1], headr: x-t }')
  const r2 = await run(['start', '--check', '-c', typo])
  t.is(r2.code, 2)
  t.is(r2.stderr, `isthmus: invalid config: ${typo}: /filters/0/config/headr: is not a known key\n`)
  const good = writeConfig(t, 1, '{ allowed: [t1] }')
  t.like(await run(['start', '--check', '-c', good]), { code: 0, stdout: `${good}: ok\n` })
})
