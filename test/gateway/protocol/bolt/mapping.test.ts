import test from 'ava'
import { LocalReply } from '../../../../gateway/chain/local-reply.js'
import { localReplyFrame, errorResponseFrame } from '../../../../gateway/protocol/bolt/mapping.js'
import { BoltStatus } from '../../../../gateway/errors.js'
import { readResponse } from '../../../_helpers/bolt-frames.js'

const cases: Array<[ConstructorParameters<typeof LocalReply>[0], number]> = [
  ['ISTH_ERR_ROUTE_NOT_FOUND', BoltStatus.NO_PROCESSOR],
  ['ISTH_ERR_UPSTREAM_NO_HEALTHY_HOST', BoltStatus.NO_PROCESSOR],
  ['ISTH_ERR_UPSTREAM_TIMEOUT', BoltStatus.TIMEOUT],
  ['ISTH_ERR_AUTH_DENIED', BoltStatus.SERVER_EXCEPTION],
  ['ISTH_ERR_RATE_LIMITED', BoltStatus.SERVER_THREADPOOL_BUSY],
]

for (const [code, status] of cases) {
  test(`${code} -> Bolt status ${status} with a message sofa-bolt-node shows`, t => {
    const r = new LocalReply(code, 'detail ✓')
    for (const shape of [{ proto: 1, ver1: 0, switchByte: 0 }, { proto: 2, ver1: 1, switchByte: 0 }, { proto: 2, ver1: 2, switchByte: 1 }]) {
      const f = localReplyFrame(r, { ...shape, requestId: 1234 })
      t.is(f.readUInt16BE(shape.proto === 2 ? 12 : 10), status)
      const d = readResponse(f)
      t.is(d.id, 1234)
      t.true(d.error!.includes(code) && d.error!.includes('detail ✓'))
    }
  })
}

test('long messages use the long string form', t => {
  const d = readResponse(errorResponseFrame({ proto: 1, ver1: 0, switchByte: 0, requestId: 1 }, 2, 'x'.repeat(900)))
  t.true(d.error!.endsWith('x'.repeat(900)))
})
