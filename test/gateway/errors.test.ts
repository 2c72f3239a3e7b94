import test from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERRORS, IsthmusError, LEGACY_CODES } from '../../gateway/errors.js'
import { errorsDoc } from '../../scripts/errors-doc.js'

test('docs/ERRORS.md lists exactly the ISTH_ERR_* table (regenerate: npx tsx scripts/errors-doc.ts > docs/ERRORS.md)', (t) => {
  t.is(readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8'), errorsDoc())
})

test('codes follow ISTH_ERR_<AREA>_<WHAT> (the two legacy codes excepted, no others) and every call-path code maps to both protocols', (t) => {
  const shape = /^ISTH_ERR_[A-Z][A-Z0-9]*_[A-Z][A-Z0-9]*(_[A-Z][A-Z0-9]*)*$/
  const offenders = Object.keys(ERRORS).filter(code => !shape.test(code))
  // Codes are never renamed, so the two that predate the rule stay; the list cannot grow.
  t.deepEqual(offenders, ['ISTH_ERR_CERTS', 'ISTH_ERR_INTERNAL'])
  t.deepEqual([...LEGACY_CODES].sort(), offenders)
  for (const [code, spec] of Object.entries(ERRORS)) {
    if (spec.grpc !== -1 && spec.bolt === -1) t.is(code, 'ISTH_ERR_TRIPLE_BAD_REQUEST')
  }
})

test('no code outside the table: every ISTH_ code in the sources is in ERRORS', (t) => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const seen = new Map<string, string>()
  for (const dir of ['gateway', 'filters', 'admin', 'certs', 'bin']) {
    for (const file of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue
      const text = readFileSync(join(root, dir, file), 'utf8')
      for (const m of text.matchAll(/\bISTH_[A-Z0-9_]*[A-Z0-9]\b/g)) if (!seen.has(m[0])) seen.set(m[0], `${dir}/${file}`)
    }
  }
  t.true(seen.size > 20)
  const unknown = [...seen].filter(([code]) => !(code in ERRORS)).map(([code, file]) => `${code} (${file})`)
  t.deepEqual(unknown, [])
})

test('errors carrying a code are IsthmusErrors (no plain Error with a code property)', (t) => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  for (const dir of ['gateway', 'filters', 'admin', 'certs']) {
    for (const file of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue
      const text = readFileSync(join(root, dir, file), 'utf8')
      t.notRegex(text, /\.code = ['"]ISTH_|readonly code = ['"]ISTH_/, `${dir}/${file}`)
    }
  }
})

test('IsthmusError is matched across package copies by its brand', (t) => {
  const e = new IsthmusError('ISTH_ERR_CONFIG_INVALID', '/x: bad', '/x')
  const foreign = { [Symbol.for('isthmus.error')]: true, code: 'ISTH_ERR_CONFIG_INVALID' }
  t.true(e instanceof IsthmusError)
  t.true(foreign instanceof IsthmusError)
  t.false(new Error('x') instanceof IsthmusError)
  t.is(e.httpStatus, 400)
  t.is(e.message, 'invalid config: /x: bad')
})
