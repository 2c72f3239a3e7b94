import test from 'ava'
import { Host } from '../../../gateway/cluster/host.js'
import { ClusterHealth, FailureClass } from '../../../gateway/cluster/outlier.js'
import type { OutlierOptions } from '../../../gateway/config/options.js'

const hosts = (n: number): Host[] => Array.from({ length: n }, (_, i) => new Host({ address: '10.0.0.1', port: 1000 + i }))
const options = (o: Partial<OutlierOptions> = {}): OutlierOptions => ({
  consecutiveFailures: 3, consecutiveStatusFailures: 5, ejectMs: 1000, maxEjectMs: 3000, maxEjectedPercent: 50, intervalMs: 100,
  successRate: { enabled: true, minHosts: 5, minRequests: 100, stdevFactor: 1.9 }, ...o,
})

test('success rate: the host far below the cluster mean is ejected at the sweep; hosts near it stay', (t) => {
  const hs = hosts(6)
  const c = new ClusterHealth('sr', options(), undefined)
  c.configure(options(), undefined, hs)
  c.sweep(0) // starts the first interval
  for (let k = 0; k < 200; k++) {
    for (let i = 0; i < 5; i++) { if (k % 100 === 0 && i === 0) c.failure(hs[i], FailureClass.Status, 1); else c.success(hs[i], 1) }
    if (k % 2 === 0) c.success(hs[5], 1); else c.grpcOutcome(hs[5], 14, 1) // 50% UNAVAILABLE
  }
  t.false(hs[5].ejectedUntil > 1, 'no verdict before the interval ends')
  c.success(hs[0], 150) // the next outcome after the interval runs the sweep
  t.true(hs[5].ejectedUntil > 150)
  t.is(hs[5].ejectReason, 'success_rate')
  t.true(hs.slice(0, 5).every(h => h.ejectedUntil === 0), 'hosts near the mean stay in')
})

test('success rate needs minHosts hosts with minRequests each', (t) => {
  const hs = hosts(4)
  const c = new ClusterHealth('sr2', options(), undefined)
  c.configure(options(), undefined, hs)
  c.sweep(0)
  for (let k = 0; k < 200; k++) for (let i = 0; i < 4; i++) { if (i === 3 && k % 2 === 0) c.grpcOutcome(hs[i], 14, 1); else c.success(hs[i], 1) }
  c.sweep(150)
  t.true(hs.every(h => h.ejectedUntil === 0))
})

test('ejection time grows with each ejection up to maxEjectMs and decays while the host stays in', (t) => {
  const hs = hosts(2)
  const c = new ClusterHealth('grow', options({ intervalMs: 1e9 }), undefined)
  c.configure(options({ intervalMs: 1e9 }), undefined, hs)
  const h = hs[0]
  const ejectAt = (now: number): number => { for (let i = 0; i < 3; i++) c.failure(h, FailureClass.Connect, now); return h.lastEjectMs }
  t.is(ejectAt(0), 1000)
  t.is(ejectAt(2000), 2000)
  t.is(ejectAt(5000), 3000)
  t.is(ejectAt(9000), 3000, 'capped at maxEjectMs')
  t.is(h.ejections, 4)
  // Sweeps while the host is in decay one level each.
  c.options = options({ intervalMs: 100 })
  c.sweep(20000); c.sweep(20200); c.sweep(20400)
  t.true(h.ejectLevel < 4)
})

test('connect failures and statuses count apart; a success clears both; statuses not configured are successes', (t) => {
  const hs = hosts(2)
  const c = new ClusterHealth('classes', options({ grpcStatuses: ['INTERNAL'], boltStatuses: ['SERVER_EXCEPTION'] }), undefined)
  c.configure(options({ grpcStatuses: ['INTERNAL'], boltStatuses: ['SERVER_EXCEPTION'] }), undefined, hs)
  const h = hs[0]
  c.grpcOutcome(h, 14, 0)
  t.is(h.consecutiveStatus, 0, 'UNAVAILABLE is not configured here')
  c.grpcOutcome(h, 13, 0); c.boltOutcome(h, 0x02, 0); c.failure(h, FailureClass.Reset, 0)
  t.is(h.consecutiveStatus, 2)
  t.is(h.consecutiveFailures, 1)
  c.boltOutcome(h, 0x00, 0)
  t.is(h.consecutiveStatus + h.consecutiveFailures, 0)
})
