/**
 * Hostile config files (issue 9 item 14): an alias bomb, a file over the size cap (also one
 * with no honest size), and a deeply nested document each give one line and exit 2, quickly
 * and without reading or expanding the whole thing.
 */
import test from 'ava'
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../_helpers/cli.js'

const BASE = 'entity: acme\nlisteners:\n  triple: { port: 0 }\n  admin: { port: 0 }\n'

function dir (t: import('ava').ExecutionContext): string {
  const d = mkdtempSync(join(tmpdir(), 'isthmus-cfgb-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

// Ten levels of ten aliases each: 10^10 nodes if expanded.
const BOMB = BASE + 'x-bomb:\n' + ['a: &a ["x","x","x","x","x","x","x","x","x","x"]',
  ...'bcdefghij'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill('*' + 'abcdefghij'[i]).join(',')}]`)].map(l => '  ' + l).join('\n') + '\n'

const cases: Array<[string, (d: string) => string, RegExp]> = [
  ['a YAML alias bomb', d => { const f = join(d, 'bomb.yaml'); writeFileSync(f, BOMB); return f }, /bomb\.yaml: YAML aliases expand too much \(alias limit 100/],
  ['a config over 4 MiB', d => { const f = join(d, 'big.yaml'); writeFileSync(f, BASE); truncateSync(f, 4 * 1024 * 1024 + 1); return f }, /big\.yaml: 4194305 bytes: a config file may hold at most 4 MiB/],
  ['a stream with no honest size (/dev/zero)', () => '/dev/zero', /\/dev\/zero: more than 4194304 bytes: a config file may hold at most 4 MiB/],
  ['a document nested 100 levels deep', d => { const f = join(d, 'deep.yaml'); writeFileSync(f, BASE + 'filters: [{ name: headers, config: ' + '{a: '.repeat(100) + '1' + '}'.repeat(100) + ' }]\n'); return f }, /deep\.yaml: \/: the config nests deeper than 64 levels/],
  ['a document nested 100,000 levels deep', d => { const f = join(d, 'deeper.yaml'); writeFileSync(f, BASE + 'x: ' + '['.repeat(100000) + ']'.repeat(100000) + '\n'); return f }, /deeper\.yaml: (YAML syntax error|YAML document nests too deeply|\/: the config nests deeper)/],
]

for (const [name, make, expected] of cases) {
  test(`${name}: one line, exit 2 (--check and start)`, async t => {
    const file = make(dir(t))
    for (const args of [['start', '--check', '-c', file], ['start', '-c', file]]) {
      const r = await runCli(args)
      t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      const lines = r.stderr.trim().split('\n')
      t.is(lines.length, 1, r.stderr)
      t.regex(lines[0], /^isthmus: invalid config: /)
      t.regex(lines[0], expected)
    }
  })
}

test('a config with a few ordinary aliases still loads', async t => {
  const f = join(dir(t), 'ok.yaml')
  writeFileSync(f, BASE + 'clusters:\n  - { name: a, protocol: triple, upstream: &up { connectTimeoutMs: 500 } }\n  - { name: b, protocol: triple, upstream: *up }\n')
  const r = await runCli(['start', '--check', '-c', f])
  t.is(r.code, 0, r.stderr)
})
