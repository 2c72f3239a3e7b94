/**
 * Issue 9, item 14: a hostile or broken config file gets one clear line and exit 2, both in
 * `start --check` and `start`: a YAML alias bomb, an oversized file, a filter module that
 * throws `null` or a string at import, and a module failing at start (no "restored admin
 * state" when there is no state file).
 */
import test from 'ava'
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../_helpers/cli.js'

const BASE = `entity: acme
listeners:
  triple: { port: 0 }
  admin: { port: 0 }
`

function dir (t: { teardown: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'isthmus-hostile-cfg-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

async function expectOneLine (t: import('ava').ExecutionContext, file: string, expected: RegExp, unexpected?: RegExp): Promise<void> {
  for (const args of [['start', '--check', '-c', file], ['start', '-c', file]]) {
    const r = await runCli(args, { timeoutMs: 120000 })
    const lines = r.stderr.trim().split('\n')
    t.is(r.code, 2, `${args.join(' ')}: exit ${String(r.code)} ${String(r.signal ?? '')}; ${r.stderr.slice(0, 600)}`)
    t.is(lines.length, 1, `${args.join(' ')}: one line: ${r.stderr.slice(0, 600)}`)
    t.regex(lines[0], /^isthmus: /)
    t.regex(lines[0], expected)
    if (unexpected !== undefined) t.notRegex(lines[0], unexpected)
  }
}

test('item 14: a YAML alias bomb (10^9 nodes through 9 levels of aliases) is a one-line config error, exit 2', async (t) => {
  const d = dir(t)
  const lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
  for (let i = 1; i < 9; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(',')}]`)
  const file = join(d, 'bomb.yaml')
  writeFileSync(file, BASE + lines.join('\n') + '\n')
  await expectOneLine(t, file, /alias|anchor|resource exhaustion/i, /internal error|ReferenceError|\n\s+at /)
})

test('item 14: a 100 MiB config file is refused by size before parsing: one line, exit 2', async (t) => {
  const d = dir(t)
  const file = join(d, 'big.yaml')
  // A valid config padded with one long comment line: cheap to write, and valid YAML.
  const fd = openSync(file, 'w')
  writeSync(fd, BASE + '# ')
  const chunk = Buffer.alloc(1 << 20, 0x78)
  for (let i = 0; i < 100; i++) writeSync(fd, chunk)
  writeSync(fd, '\n')
  closeSync(fd)
  await expectOneLine(t, file, /too (large|big)|size|bytes/i)
})

for (const [what, body] of [['throws null', 'throw null'], ['throws a string', "throw 'nope, not a filter'"]] as const) {
  test(`item 14: a filter module that ${what} at import is a one-line config error naming the module, exit 2`, async (t) => {
    const d = dir(t)
    writeFileSync(join(d, 'bad.mjs'), body + '\n')
    const file = join(d, 'config.yaml')
    writeFileSync(file, BASE + 'filters:\n  - { name: bad, module: ./bad.mjs }\n')
    await expectOneLine(t, file, /\/filters\/0\/module/, /internal error|TypeError|Cannot read properties/)
  })
}

test('item 14: a filter module that fails at start is reported as that module\'s error, not as "restored admin state does not compile" (there is no state file)', async (t) => {
  const d = dir(t)
  writeFileSync(join(d, 'kaput.mjs'), "throw new Error('kaput at import')\n")
  const file = join(d, 'config.yaml')
  writeFileSync(file, BASE + 'filters:\n  - { name: kaput, module: ./kaput.mjs }\n')
  await expectOneLine(t, file, /\/filters\/0\/module.*kaput at import/, /restored admin state/)
})
