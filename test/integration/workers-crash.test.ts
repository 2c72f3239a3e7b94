/**
 * Two workers (the compiled CLI with --workers 2): a killed worker costs no call on the other
 * and comes back on the current generation before it takes traffic; SIGTERM to the primary
 * drains every worker (calls in flight finish) and the whole gateway exits 0.
 */
import test from 'ava'
import { admin, call, clientsOnEveryWorker, config, load, startWorkers, until } from '../_helpers/workers.js'

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

test.serial('killing one worker loses no call on the other; it comes back on the current generation', async (t) => {
  const { gw } = await startWorkers(t)
  // A generation past the first, so "current" is not what the worker started with.
  const pushed = await admin(gw, 'PUT', '/v1/filters/stamp', { revision: 1, config: { tag: 'pushed' } })
  t.is(pushed.status, 200)
  const generation = pushed.body.generation as number
  const c0 = await config(gw)
  const [victim, survivor] = c0.workers.map(w => String(w.pid))
  const clients = await clientsOnEveryWorker(t, gw, [victim, survivor])
  const l = load(clients)
  await until('load on both workers', () => l.servedBy, m => (m.get(victim) ?? 0) > 20 && (m.get(survivor) ?? 0) > 20)
  process.kill(Number(victim), 'SIGKILL')
  const back = await until('the killed worker back and ready', () => config(gw),
    c => c.workers.every(w => w.state === 'ready') && !c.workers.some(w => String(w.pid) === victim))
  t.deepEqual(back.workers.map(w => w.generation), [generation, generation])
  t.is(back.workers[0].restarts, 1)
  const replacement = String(back.workers[0].pid)
  // The replacement takes new connections and runs the current chain.
  const fresh = await clientsOnEveryWorker(t, gw, [replacement, survivor], 1)
  for (const x of fresh) t.is((await call(x.client)).tag, 'pushed', `worker ${x.pid}`)
  const servedBySurvivor = l.servedBy.get(survivor) ?? 0
  await until('more calls on the survivor', () => l.servedBy.get(survivor) ?? 0, n => n > servedBySurvivor + 20)
  await l.stop()
  t.deepEqual(l.failures.filter(f => f.pid === survivor), [], 'no failed call on the other worker')
  t.log(`calls failed on the killed worker's connections: ${l.failures.filter(f => f.pid === victim).length} (in flight when it died); ok: ${l.ok}`)
  // A push after the restart reaches both again.
  const next = await admin(gw, 'PUT', '/v1/filters/stamp', { revision: 2, config: { tag: 'after' } })
  t.is(next.status, 200, JSON.stringify(next.body))
  t.deepEqual((await config(gw)).workers.map(w => w.generation), [next.body.generation, next.body.generation])
})

test.serial('SIGTERM to the primary drains every worker: calls in flight finish, then all exit 0', async (t) => {
  const { gw } = await startWorkers(t)
  const c0 = await config(gw)
  const pids = c0.workers.map(w => String(w.pid))
  const clients = await clientsOnEveryWorker(t, gw, pids, 1)
  const inFlight = clients.map(x => call(x.client, { message: 'slow', delayMs: 800 }))
  // The calls have reached the upstream before the signal.
  await new Promise(resolve => setTimeout(resolve, 300))
  gw.child.kill('SIGTERM')
  const done = await Promise.allSettled(inFlight)
  t.deepEqual(done.map(d => d.status), clients.map(() => 'fulfilled'), JSON.stringify(done))
  const exit = await gw.exited
  t.is(exit.code, 0)
  for (const p of pids) await until(`worker ${p} gone`, () => alive(Number(p)), a => !a)
  t.true(gw.logs.some(r => r.msg === 'drained' && r.worker !== undefined))
})
