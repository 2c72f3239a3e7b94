import test from 'ava'
import mirror from '../../../filters/mirror/index.js'
import type { MirrorConfig } from '../../../filters/mirror/config.js'
import { CONTINUE } from '../../../gateway/chain/filter-api.js'
import { IsthmusError } from '../../../gateway/errors.js'
import { compileFilter, makeCall } from '../../_helpers/compile-filter.js'

const compile = (o: unknown) => compileFilter(mirror, o)

test('defaults and the compiled form: fields compared are all minus the ignored ones', (t) => {
  const { config } = compile({ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 0.25 }], compare: { ignore: ['digest'] } }, { route: 's', targets: [{ cluster: 'c', fraction: 1 }] }] }) as { config: MirrorConfig }
  t.is(config.maxBodyBytes, 1024 * 1024)
  t.is(config.maxInflight, 256)
  t.is(config.header, 'x-isthmus-mirror')
  t.deepEqual(config.routes.get('r')!.compare, ['status', 'grpc-status', 'size'])
  t.is(config.routes.get('s')!.compare, null)
  t.false(config.routes.get('s')!.stress)
})

test('bad options are config errors naming their path', (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{}, /routes/],
    [{ routes: [] }, /routes/],
    [{ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 1.5 }] }] }, /fraction/],
    [{ routes: [{ route: 'r', targets: [] }] }, /targets/],
    [{ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 1 }], compare: { ignore: ['body'] } }] }, /ignore/],
    [{ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 1 }] }], extra: 1 }, /extra|additional/],
    [{ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 1 }] }], header: 'X-Up' }, /header/],
    [{ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 1 }] }, { route: 'r', targets: [{ cluster: 'c', fraction: 1 }] }] }, /listed twice/],
    [{ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 1 }, { cluster: 'c', fraction: 0.5 }] }] }, /listed twice/],
  ]
  for (const [o, msg] of bad) t.throws(() => compile(o), { instanceOf: IsthmusError, message: msg }, JSON.stringify(o))
})

test('a call of another route, or of none, is left alone', (t) => {
  const { filter } = compile({ routes: [{ route: 'r', targets: [{ cluster: 'c', fraction: 1 }] }] })
  const call = makeCall()
  t.is(filter.onRequest!(call), CONTINUE)
  t.false(call.mirrored)
  t.is(call.taps, null)
})
