import test from 'ava'
import auth from '../../../filters/auth/index.js'
import { compileFilter } from '../../_helpers/compile-filter.js'

test('config: exactly one JWKS source, no alg none, unknown keys rejected, readable file', t => {
  for (const [opts, re] of [
    [{ jwks: {} }, /jwks/],
    [{ jwks: { file: 'a.json', url: 'http://127.0.0.1/x' } }, /exactly one of jwks.file and jwks.url/],
    [{ jwks: { url: 'http://127.0.0.1/x' }, algorithms: ['none'] }, /algorithms/],
    [{ jwks: { url: 'http://127.0.0.1/x' }, algorithms: ['HS256'] }, /algorithms/],
    [{ jwks: { url: 'http://127.0.0.1/x' }, bogus: 1 }, /bogus/],
    [{ jwks: { file: '/nonexistent/jwks.json' } }, /cannot load JWKS file/],
  ] as const) {
    const err = t.throws(() => compileFilter(auth, opts))
    t.is((err as { code?: string }).code, 'ISTH_ERR_CONFIG_INVALID')
    t.regex(err?.message ?? '', re)
  }
  t.notThrows(() => compileFilter(auth, { jwks: { url: 'http://127.0.0.1:1/jwks.json' }, audience: ['a', 'b'] }))
})
