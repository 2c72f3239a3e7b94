/** The mirror filter's bound on mismatch lines for the audit trail: a rate per second, each line counting the ones left out before it. */
import test from 'ava'
import type { CallEvent } from '../../../gateway/index.js'
import { reportMismatch, type MismatchReport } from '../../../filters/mirror/audit-report.js'
import { makeCall } from '../../_helpers/compile-filter.js'

const summary = (digest: string) => ({ status: 200, grpcStatus: 0, bytes: 10, digest })
const M: MismatchReport = { route: 'all', target: 'shadow', differ: ['digest'], ignore: ['size'], primary: summary('sha256:aa'), mirror: summary('sha256:bb') }

test.serial('at most auditPerSecond lines per second; the next line says how many were skipped; 0 writes none', (t) => {
  const call = makeCall({ service: 'svc', method: 'm' })
  const seen: CallEvent[] = []
  call.report = (e: CallEvent) => { seen.push(e) }
  const realNow = Date.now
  let now = 1_000_000_000_000
  Date.now = () => now
  t.teardown(() => { Date.now = realNow })
  for (let i = 0; i < 5; i++) reportMismatch(call, 2, M, 'svc', 'm')
  t.is(seen.length, 2)
  t.deepEqual(seen.map(e => e.data.skipped), [0, 0])
  now += 1000
  reportMismatch(call, 2, M, 'svc', 'm')
  t.is(seen.length, 3)
  t.is(seen[2].kind, 'mirror')
  t.is(seen[2].data.skipped, 3)
  t.like(seen[2].data, { route: 'all', svc: 'svc', method: 'm', differ: ['digest'], ignore: ['size'], mirror: { cluster: 'shadow', digest: 'sha256:bb' }, primary: { digest: 'sha256:aa' } })
  now += 1000
  for (let i = 0; i < 3; i++) reportMismatch(call, 0, M, 'svc', 'm')
  t.is(seen.length, 3)
})
