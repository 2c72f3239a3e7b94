/** `isthmus bridge ...` as users run it: help, and one-line errors with exit 2 for bad options. */
import { createServer } from 'node:net'
import test from 'ava'
import { runCli } from '../_helpers/cli.js'

const BASE = ['bridge', 'zookeeper', '--connect', '127.0.0.1:1', '--admin', 'http://127.0.0.1:1', '--service-prefix', 'com.x.']

test('help: isthmus --help lists the bridge; bridge and bridge zookeeper have their own', async t => {
  const top = await runCli(['--help'])
  t.regex(top.stdout, /bridge zookeeper/)
  const b = await runCli(['bridge', '--help'])
  t.is(b.code, 0)
  t.regex(b.stdout, /zookeeper +SOFARPC providers/)
  const z = await runCli(['bridge', 'zookeeper', '--help'])
  t.is(z.code, 0)
  for (const opt of ['--connect', '--admin', '--token-file', '--cert', '--admin-servername', '--service-prefix', '--all-services', '--map', '--label', '--layout', '--metrics-port']) t.true(z.stdout.includes(opt), opt)
})

const bad: Array<[string, string[], RegExp]> = [
  ['no registry', ['bridge'], /Usage: isthmus bridge/],
  ['unknown registry', ['bridge', 'etcd'], /unknown registry "etcd"/],
  ['missing --connect', ['bridge', 'zookeeper', '--admin', 'http://127.0.0.1:1', '--all-services'], /--connect is required/],
  ['bad --connect', [...BASE, '--connect', 'a b'], /--connect "a b": expected host:port/],
  ['missing --admin', ['bridge', 'zookeeper', '--connect', '127.0.0.1:2181', '--all-services'], /--admin is required/],
  ['admin not a URL', [...BASE, '--admin', 'nope'], /--admin "nope": not a URL/],
  ['no service filter', ['bridge', 'zookeeper', '--connect', '127.0.0.1:2181', '--admin', 'http://127.0.0.1:1'], /say which services to export/],
  ['remote admin without credentials', [...BASE, '--admin', 'http://10.9.9.9:9901'], /not on loopback: give --token-file/],
  ['unreadable token file', [...BASE, '--token-file', '/nonexistent/token'], /--token-file \/nonexistent\/token: cannot read it \(ENOENT\)/],
  ['unset token env', [...BASE, '--token-env', 'ISTHMUS_NO_SUCH_VAR'], /--token-env ISTHMUS_NO_SUCH_VAR: the variable is not set/],
  ['cert without key', [...BASE, '--admin', 'https://127.0.0.1:1', '--cert', 'a.crt'], /--cert and --key go together/],
  ['client cert over http', [...BASE, '--cert', 'a.crt', '--key', 'a.key'], /need an https:\/\/ --admin URL/],
  ['admin server name over http', [...BASE, '--admin-servername', 'gw.local'], /need an https:\/\/ --admin URL/],
  ['bad admin server name', [...BASE, '--admin', 'https://127.0.0.1:1', '--admin-servername', 'a b'], /--admin-servername "a b": not a DNS name/],
  ['unknown --map field', [...BASE, '--map', 'color=red'], /--map color=red: unknown field "color"/],
  ['reserved label', [...BASE, '--label', 'service:x=y'], /reserved/],
  ['bad layout', [...BASE, '--layout', 'flat'], /--layout "flat": must be auto, java or node/],
  ['bad number', [...BASE, '--coalesce-ms', '-5'], /--coalesce-ms/],
  ['unknown option', [...BASE, '--zookeeper', 'x'], /Unknown option '--zookeeper'/],
]

for (const [name, args, re] of bad) {
  test(`bad usage is one line and exit 2: ${name}`, async t => {
    const r = await runCli(args)
    t.is(r.code, 2, r.stderr)
    if (name === 'no registry') { t.regex(r.stdout, re); return }
    const lines = r.stderr.trim().split('\n')
    t.is(lines.length, 1, r.stderr)
    t.regex(lines[0], /^isthmus: /)
    t.regex(lines[0], re)
  })
}

test('a metrics port in use is one line and exit 1', async t => {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { s.close() })
  const port = (s.address() as { port: number }).port
  const r = await runCli([...BASE, '--metrics-port', String(port)])
  t.is(r.code, 1)
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr)
  t.regex(r.stderr, new RegExp(`cannot listen on 127.0.0.1:${port} for metrics`))
})
