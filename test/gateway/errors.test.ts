import test from 'ava'
import { readFileSync } from 'node:fs'
import { ERRORS, IsthmusError } from '../../gateway/errors.js'
import { errorsDoc } from '../../scripts/errors-doc.js'

test('docs/ERRORS.md lists exactly the ISTH_ERR_* table (regenerate: npx tsx scripts/errors-doc.ts > docs/ERRORS.md)', (t) => {
  t.is(readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8'), errorsDoc())
})

test('codes follow ISTH_ERR_<AREA>_<WHAT> and every call-path code maps to both protocols', (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.regex(code, /^ISTH_ERR_[A-Z]+(_[A-Z]+)*$/)
    if (spec.grpc !== -1 && spec.bolt === -1) t.is(code, 'ISTH_ERR_TRIPLE_BAD_REQUEST')
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
