import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../_helpers/cli.js'

const base = `entity: acme
listeners:
  triple: { port: 0 }
  admin: { port: 0 }
`

const broken: Array<[string, string, RegExp]> = [
  ['unknown top-level key', base + 'colour: blue\n', /\/colour: is not a known key/],
  ['wrong type for a port', 'entity: acme\nlisteners:\n  triple: { port: "9090" }\n  admin: { port: 0 }\n', /\/listeners\/triple\/port: must be integer/],
  ['route to a cluster that does not exist', base + 'routes:\n  - { name: r, match: { service: a.B }, cluster: nope }\n', /\/routes\/0\/cluster: unknown cluster "nope"/],
  ['bad enum value', base + 'clusters:\n  - { name: c, protocol: smtp }\n', /\/clusters\/0\/protocol: must be one of "triple", "bolt", "http1"/],
  ['YAML syntax error', base + 'clusters: [ { name: c\n', /YAML syntax error at line \d+/],
  ['filter config rejected by the filter', base + 'filters:\n  - name: deny\n    config: { rules: [ { name: everything } ] }\n', /\/filters\/0\/config\/rules\/0: a rule needs service, method or header/],
  ['unknown filter', base + 'filters:\n  - name: teleport\n', /\/filters\/0\/name: unknown filter "teleport"/],
  // A string-or-object matcher (oneOf): the unknown key is named, not "must be string".
  ['misspelt matcher key in a filter', base + 'filters:\n  - name: deny\n    config: { rules: [ { name: r, method: { prefx: Internal } } ] }\n', /\/filters\/0\/config\/rules\/0\/method\/prefx: is not a known key$/],
  ['misspelt matcher key in a route', base + 'clusters: [ { name: c, protocol: triple } ]\nroutes:\n  - { name: r, match: { service: { exct: a.B } }, cluster: c }\n', /\/routes\/0\/match\/service\/exct: is not a known key$/],
  ['two listeners on one port', 'entity: acme\nlisteners:\n  triple: { host: 127.0.0.1, port: 47123 }\n  bolt: { port: 47123 }\n  admin: { port: 0 }\n', /\/listeners\/bolt\/port: 127\.0\.0\.1:47123 is also the triple listener's address \(127\.0\.0\.1:47123\); give each listener its own port$/],
  ['a listener on the wildcard address and another on the same port', 'entity: acme\nlisteners:\n  triple: { host: 0.0.0.0, port: 47124 }\n  admin: { host: 127.0.0.1, port: 47124 }\n', /\/listeners\/admin\/port: 127\.0\.0\.1:47124 is also the triple listener's address/],
]

for (const [name, yaml, expected] of broken) {
  // Serial: each case starts the CLI twice; a dozen cases at once starve a busy machine.
  test.serial(`config error: ${name} -> one line naming the path, exit 2`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'isthmus-cfg-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, yaml)
    // --check goes through the same loader as start; start itself must refuse the same way.
    for (const args of [['start', '--check', '-c', file], ['start', '-c', file]]) {
      const r = await runCli(args)
      t.is(r.code, 2, r.stderr)
      const lines = r.stderr.trim().split('\n')
      t.is(lines.length, 1, r.stderr)
      // Every config error names the file (filter and listener errors included).
      t.true(lines[0].startsWith(`isthmus: invalid config: ${file}: `), lines[0])
      t.regex(lines[0], expected)
    }
  })
}

test('missing config file and bad flags are one-line errors', async (t) => {
  const r1 = await runCli(['start', '-c', '/nonexistent/isthmus.yaml'])
  t.is(r1.code, 2)
  t.regex(r1.stderr, /^isthmus: cannot read config: \/nonexistent\/isthmus.yaml: ENOENT/)
  const r2 = await runCli(['start', '--bogus'])
  t.is(r2.code, 2)
  t.regex(r2.stderr, /^isthmus: Unknown option '--bogus'/)
  const r3 = await runCli(['frobnicate'])
  t.is(r3.code, 2)
  t.regex(r3.stderr, /unknown command "frobnicate"/)
})

test('--help on every command', async (t) => {
  for (const args of [['--help'], ['start', '--help'], ['certs', '--help'], ['certs', 'init-ca', '--help'], ['certs', 'issue', '--help']]) {
    const r = await runCli(args)
    t.is(r.code, 0, args.join(' '))
    t.regex(r.stdout + r.stderr, /Usage: isthmus/)
  }
})

test('--check accepts the bundled example and the image\'s default config', async (t) => {
  const r = await runCli(['start', '--check', '-c', 'examples/isthmus.example.yaml'])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /ok/)
  const image = await runCli(['start', '--check', '-c', 'docker/isthmus.yaml'], { env: { ISTHMUS_ADMIN_TOKEN: 'x'.repeat(32) } })
  t.is(image.code, 0, image.stderr)
  t.regex(image.stdout, /docker\/isthmus\.yaml: ok/)
})
