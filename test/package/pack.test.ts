/**
 * The package as a filter author gets it: `npm pack`, installed into a fresh project with
 * production dependencies only; a filter importing `isthmus` compiles with `tsc --strict`;
 * the `isthmus` command runs through node_modules/.bin (a symlink); and a filter built against
 * that installed copy works in a gateway running from another copy (this repository's dist/).
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { copyFileSync, lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { ROOT, spawnGateway } from '../_helpers/cli.js'
import { packAndInstall, type InstalledProject } from '../_helpers/pack.js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const work = mkdtempSync(join(tmpdir(), 'isthmus-pack-'))
let installed: Promise<InstalledProject> | null = null
// One install for the file: the tests below share it (read-only, except their own files).
const project = (): Promise<InstalledProject> => (installed ??= packAndInstall(work))
test.after.always(() => { rmSync(work, { recursive: true, force: true }) })

interface Run { code: number | null, stdout: string, stderr: string }
function exec (file: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : 1), stdout, stderr })
    })
  })
}

const TSCONFIG = {
  compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], outDir: 'out', skipLibCheck: false },
}

test.serial('a filter importing { defineFilter, CONTINUE, LocalReply, type Call, type ErrorCode } from "isthmus" compiles with tsc --strict', async (t) => {
  const p = await project()
  t.log(`installed from ${p.tarball} (${p.mode})`)
  const src = readFileSync(join(ROOT, 'examples', 'filters', 'tenant-guard.ts'), 'utf8')
  t.regex(src, /^import \{ CONTINUE, defineFilter, LocalReply, type Call, type ErrorCode \} from 'isthmus'$/m)
  copyFileSync(join(ROOT, 'examples', 'filters', 'tenant-guard.ts'), join(p.dir, 'tenant-guard.ts'))
  writeFileSync(join(p.dir, 'tsconfig.json'), JSON.stringify({ ...TSCONFIG, files: ['tenant-guard.ts'] }))
  const r = await exec(process.execPath, [TSC, '-p', '.', '--strict'], p.dir)
  t.is(r.code, 0, r.stdout + r.stderr)
  t.true(lstatSync(join(p.dir, 'out', 'tenant-guard.js')).isFile())
})

test.serial('the package types are real: a hook returning a string and an unknown error code do not compile', async (t) => {
  const p = await project()
  writeFileSync(join(p.dir, 'bad.ts'), `import { defineFilter, LocalReply, type Call, type ErrorCode } from 'isthmus'
const code: ErrorCode = 'ISTH_ERR_NO_SUCH_CODE'
export default defineFilter<{}, {}>({
  name: 'bad', schema: {},
  compile () { return {} },
  create () { return { onRequest (call: Call) { return call.service } } },
})
export const r = new LocalReply(code, 'x')
`)
  writeFileSync(join(p.dir, 'tsconfig.bad.json'), JSON.stringify({ ...TSCONFIG, compilerOptions: { ...TSCONFIG.compilerOptions, noEmit: true }, files: ['bad.ts'] }))
  const r = await exec(process.execPath, [TSC, '-p', 'tsconfig.bad.json'], p.dir)
  t.not(r.code, 0)
  t.regex(r.stdout, /bad\.ts\(2,7\): error TS2322: Type '"ISTH_ERR_NO_SUCH_CODE"' is not assignable to type/)
  t.regex(r.stdout, /bad\.ts\(6,\d+\): error TS2322:[^]*Type 'string' is not assignable to type 'Verdict'/)
})

test.serial('node_modules/.bin/isthmus (a symlink) runs the command: --help, --version', async (t) => {
  const p = await project()
  const bin = join(p.dir, 'node_modules', '.bin', 'isthmus')
  t.true(lstatSync(bin).isSymbolicLink())
  t.is(realpathSync(bin), join(realpathSync(p.dir), 'node_modules', 'isthmus', 'dist', 'bin', 'isthmus.js'))
  const help = await exec(bin, ['--help'], p.dir)
  t.is(help.code, 0, help.stderr)
  t.regex(help.stdout, /^Usage: isthmus <command> \[options\]/)
  t.regex(help.stdout, /start +run the gateway/)
  const version = await exec(bin, ['--version'], p.dir)
  t.is(version.stdout, `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string}\n`)
  // npx finds the same bin.
  const npx = await exec('npx', ['--no-install', 'isthmus', '--help'], p.dir)
  t.regex(npx.stdout, /^Usage: isthmus/)
})

test.serial('a production-only install: start without -c is one line and exit 2; --check loads the compiled filter', async (t) => {
  const p = await project()
  const bin = join(p.dir, 'node_modules', '.bin', 'isthmus')
  const r = await exec(bin, ['start'], p.dir)
  t.is(r.code, 2)
  t.is(r.stderr.split('\n').length, 2, r.stderr) // one line and its newline
  t.regex(r.stderr, /^isthmus: no config file: run "isthmus start -c <config\.yaml>"/)
  t.notRegex(r.stderr, /\n\s+at /)
  writeFileSync(join(p.dir, 'isthmus.yaml'), config(1, './out/tenant-guard.js'))
  const check = await exec(bin, ['start', '--check', '-c', 'isthmus.yaml'], p.dir)
  t.is(check.code, 0, check.stderr)
  t.is(check.stdout, `${join(p.dir, 'isthmus.yaml')}: ok\n`)
})

test.serial('a filter built against the installed copy works in a gateway from another copy (LocalReply and CONTINUE across copies)', async (t) => {
  const p = await project()
  const upstream = await startEchoServer()
  t.teardown(() => upstream.close())
  const file = join(p.dir, 'cross.yaml')
  // An absolute module path: the gateway here is this repository's dist/, the filter imports
  // the project's node_modules/isthmus.
  writeFileSync(file, config(upstream.port, join(p.dir, 'out', 'tenant-guard.js')))
  const gw = await spawnGateway(file, ['triple'])
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const client = echoClient(gw.ports.triple)
  t.teardown(() => client.close())
  const md = (tenant: string): grpc.Metadata => { const m = new grpc.Metadata(); m.set('x-tenant', tenant); return m }
  const ok = await unary(client, { message: 'hi' }, md('t1'))
  t.is(ok.reply.message, 'hi')
  // `new LocalReply` of the project's copy: the gateway's runner must recognise it.
  const denied = await unary(client, { message: 'hi' }, md('t9')).then(() => null, (e: grpc.ServiceError) => e)
  t.is(denied?.code, grpc.status.PERMISSION_DENIED)
  t.is(denied?.details, 'denied: unknown tenant')
  const missing = await unary(client, { message: 'hi' }).then(() => null, (e: grpc.ServiceError) => e)
  t.is(missing?.code, grpc.status.UNAUTHENTICATED)
  t.is(upstream.calls, 1)
})

function config (port: number, module: string): string {
  return `entity: acme
listeners:
  triple: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
clusters:
  - { name: echo, protocol: triple, hosts: [{ address: 127.0.0.1, port: ${port} }] }
routes:
  - { name: all, match: { service: { prefix: "" } }, cluster: echo }
filters:
  - { name: tenant-guard, module: ${JSON.stringify(module)}, config: { allowed: [t1, t2] } }
log: { level: info, access: off }
`
}
