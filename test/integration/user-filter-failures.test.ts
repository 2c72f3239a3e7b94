/**
 * A user filter's failure fails that call or that config, never the process (issue 9 items 4
 * and 14). Real user modules in test/_helpers/filters/failing/, the compiled CLI as its own
 * process (so a crash shows as an exit), grpc-js and sofa-rpc-node clients.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { echoClient, startEchoServer, unary } from '../_peers/grpc-echo.js'
import { sofaClient, sofaConsumer, startSofaServer, TEST_SERVICE } from '../_peers/sofa-rpc.js'
import { ROOT, runCli, spawnGateway, type RunningGateway } from '../_helpers/cli.js'

const MODULES = fileURLToPath(new URL('../_helpers/filters/failing/', import.meta.url))
const mod = (name: string): string => join(MODULES, name)

function tempDir (t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-ufail-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Poll `cond` (no wall-clock bound in the assertion: the machine may be loaded). */
async function until (cond: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

const FAILED_MSG = /^user filter failed outside a call/

function failureLines (gw: RunningGateway, file: string): Array<Record<string, unknown>> {
  return gw.logs.filter(l => typeof l.msg === 'string' && FAILED_MSG.test(l.msg) && l.file === mod(file))
}

test('user filter failures after start (timer throw, unhandled rejection, hook throws and rejects, a timer a hook started): the process stays up and answers other calls', async t => {
  const echo = await startEchoServer()
  t.teardown(() => echo.close())
  const sofa = await startSofaServer()
  t.teardown(() => sofa.close())
  const dir = tempDir(t)
  const file = join(dir, 'gw.yaml')
  writeFileSync(file, `
entity: acme
log: { level: info, access: off }
listeners:
  triple: { port: 0 }
  bolt: { port: 0 }
  admin: { port: 0, token: tok }
clusters:
  - { name: echo, protocol: triple, hosts: [ { address: 127.0.0.1, port: ${echo.port} } ] }
  - { name: sofa, protocol: bolt, hosts: [ { address: 127.0.0.1, port: ${sofa.port} } ] }
routes:
  - { name: echo, match: { protocol: triple, service: { prefix: "" } }, cluster: echo }
  - { name: sofa, match: { protocol: bolt, service: ${TEST_SERVICE} }, cluster: sofa }
filters:
  - { name: timer-bomb, module: ${mod('timer-bomb.mjs')}, protocols: [bolt] }
  - { name: late-reject, module: ${mod('late-reject.mjs')}, protocols: [bolt] }
  - { name: hook-bomb, module: ${mod('hook-bomb.mjs')}, protocols: [triple] }
`)
  const triggers = tempDir(t)
  const gw = await spawnGateway(file, ['triple', 'bolt', 'admin'], { ISTHMUS_TEST_TRIGGERS: triggers })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  let exited: { code: number | null, signal: string | null } | null = null
  void gw.exited.then(e => { exited = e })
  const admin = `http://127.0.0.1:${gw.ports.admin}`

  const grpcClient = echoClient(gw.ports.triple)
  t.teardown(() => grpcClient.close())
  const rpc = sofaClient()
  t.teardown(() => rpc.close())
  const bolt = await sofaConsumer(rpc, gw.ports.bolt)
  const md = (bomb: string): grpc.Metadata => { const m = new grpc.Metadata(); m.set('x-bomb', bomb); return m }
  const tripleOk = async (): Promise<void> => { t.is((await unary(grpcClient, { message: 'hi' })).reply.message, 'hi') }

  // Everything works before any failure.
  t.is(await bolt.invoke('plus', [1, 2]), 3)
  await tripleOk()

  // A hook that throws null, then one that returns a rejected promise: each fails its call
  // (INTERNAL, ISTH_ERR_FILTER_FAILED) and the filter keeps serving the next calls.
  for (const bomb of ['sync-null', 'reject-string']) {
    const err = await t.throwsAsync(unary(grpcClient, { message: 'x' }, md(bomb))) as grpc.ServiceError
    t.is(err.code, grpc.status.INTERNAL, bomb)
    t.regex(err.details, /filter hook-bomb failed/)
    await tripleOk()
  }

  // A timer the module started at import throws: one log line and a count; the gateway and
  // the filter keep running (no call was failed; nobody else's calls are).
  writeFileSync(join(triggers, 'timer-bomb'), '')
  await until(() => failureLines(gw, 'timer-bomb.mjs').length > 0 || exited !== null, 'the timer-bomb failure line')
  t.is(exited, null, 'the gateway process is alive')
  const line = failureLines(gw, 'timer-bomb.mjs')[0]
  t.is(line.origin, 'uncaughtException')
  t.deepEqual(line.filter, ['timer-bomb'])
  t.regex(String(line.err), /timer bomb went off/)
  t.is(await bolt.invoke('plus', [1, 2]), 3)
  await tripleOk()

  // An unhandled rejection (of a string, no stack) from the other Bolt module.
  writeFileSync(join(triggers, 'late-reject'), '')
  await until(() => failureLines(gw, 'late-reject.mjs').length > 0 || exited !== null, 'the late-reject failure line')
  t.is(exited, null)
  t.is(failureLines(gw, 'late-reject.mjs')[0].origin, 'unhandledRejection')
  await tripleOk()

  // A timer a hook started throws a string after the call succeeded: attributed to the
  // hook's module (logged, counted); the next calls through it pass.
  t.is((await unary(grpcClient, { message: 'later' }, md('later'))).reply.message, 'later')
  await until(() => failureLines(gw, 'hook-bomb.mjs').length > 0 || exited !== null, 'the hook-bomb failure line')
  t.is(exited, null)
  await tripleOk()
  t.is(await bolt.invoke('plus', [1, 2]), 3)

  // The process answers: admin, metrics; each module logged its failure once.
  t.is((await fetch(`${admin}/ready`)).status, 200)
  t.is((await fetch(`${admin}/metrics`)).status, 200)
  for (const f of ['timer-bomb.mjs', 'late-reject.mjs', 'hook-bomb.mjs']) t.is(failureLines(gw, f).length, 1, f)
  const metrics = await (await fetch(`${admin}/metrics`)).text()
  for (const f of ['timer-bomb', 'late-reject', 'hook-bomb']) t.regex(metrics, new RegExp(`isthmus_filter_background_errors_total\\{filter="${f}"\\} 1`), f)
  // The module's config can still change: it compiles again.
  const r = await fetch(`${admin}/v1/filters/timer-bomb`, { method: 'PUT', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: JSON.stringify({ revision: 1, config: { again: true } }) })
  t.is(r.status, 200, await r.text())
  t.is(exited, null)
})

const BASE = `entity: acme
listeners:
  triple: { port: 0 }
  admin: { port: 0 }
`

for (const [file, expected] of [
  ['import-null.mjs', /\/filters\/0\/module: filter "bad": cannot load .*import-null\.mjs: threw null$/],
  ['import-string.mjs', /\/filters\/0\/module: filter "bad": cannot load .*import-string\.mjs: threw the string "this module refuses to load"$/],
  ['compile-null.mjs', /\/filters\/0\/config: filter "bad" \(.*compile-null\.mjs\) rejected its config: threw null$/],
  ['compile-string.mjs', /\/filters\/0\/config: filter "bad" \(.*compile-string\.mjs\) rejected its config: threw the string "bad options, says the filter"$/],
  ['compile-async.mjs', /\/filters\/0\/config: filter "bad" \(.*compile-async\.mjs\) rejected its config: async compile failed$/],
] as const) {
  test(`a module that fails at ${file.replace('.mjs', '')}: one line naming the filter and the file, exit 2 (--check and start)`, async t => {
    const dir = tempDir(t)
    const cfg = join(dir, 'gw.yaml')
    writeFileSync(cfg, BASE + `filters:\n  - { name: bad, module: ${mod(file)} }\n`)
    for (const args of [['start', '--check', '-c', cfg], ['start', '-c', cfg]]) {
      const r = await runCli(args)
      t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      const lines = r.stderr.trim().split('\n')
      t.is(lines.length, 1, r.stderr)
      t.regex(lines[0], /^isthmus: invalid config: /)
      t.regex(lines[0], expected)
      t.notRegex(lines[0], /restored admin state|TypeError/)
    }
  })
}

/** Run a small program against the compiled user-module guard. */
function runNode (code: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.on('close', (c) => resolve({ code: c, stdout, stderr }))
  })
}

test('the handlers attribute, they do not swallow: an error outside any user module still crashes the process', async t => {
  const guard = pathToFileURL(join(ROOT, 'dist/gateway/chain/user-module.js')).href
  const head = `import { userModule, runIn, setUserModuleFailureLog } from ${JSON.stringify(guard)}
const m = userModule('/nonexistent/user-filter.mjs'); m.names.add('f')
setUserModuleFailureLog((mm, err, origin) => console.log('attributed', origin, String(err)))
`
  // Inside the module's scope: attributed, the process lives on.
  const inside = await runNode(head + `runIn(m, () => { setTimeout(() => { throw new Error('mine') }, 5); Promise.reject('mine too') })
setTimeout(() => console.log('alive'), 100)`)
  t.is(inside.code, 0, inside.stderr)
  t.regex(inside.stdout, /attributed unhandledRejection mine too/)
  t.regex(inside.stdout, /alive/)
  // Outside any user module: the process dies as it would without the handlers.
  const thrown = await runNode(head + `setTimeout(() => { throw new Error('gateway bug') }, 5)
setTimeout(() => console.log('alive'), 500)`)
  t.is(thrown.code, 1)
  t.regex(thrown.stderr, /Error: gateway bug/)
  t.notRegex(thrown.stdout, /alive|attributed/)
  const rejected = await runNode(head + `Promise.reject(new Error('gateway rejection'))
setTimeout(() => console.log('alive'), 500)`)
  t.is(rejected.code, 1)
  t.regex(rejected.stderr, /gateway rejection/)
  t.notRegex(rejected.stdout, /alive|attributed/)
})
