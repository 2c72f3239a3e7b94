/**
 * Two workers, one acknowledged config generation (the compiled CLI with --workers 2): an
 * admin write answers only after both workers applied its generation; calls keep succeeding
 * across 20 pushes under load; /metrics sums both workers; a change one worker cannot apply
 * is refused with 503 naming it, and every worker stays on the old generation.
 */
import test from 'ava'
import { scrape, sample } from '../_helpers/scrape.js'
import { admin, call, clientsOnEveryWorker, config, load, startWorkers, total, until } from '../_helpers/workers.js'

test.serial('an admin push is applied by both workers before the write returns; 20 pushes under load fail no call; metrics sum both workers', async (t) => {
  const { gw } = await startWorkers(t)
  const c0 = await config(gw)
  t.is(c0.workers.length, 2)
  t.true(c0.workers.every(w => w.state === 'ready' && w.generation === c0.generation), JSON.stringify(c0.workers))
  const pids = c0.workers.map(w => String(w.pid))
  t.not(pids[0], pids[1])
  const clients = await clientsOnEveryWorker(t, gw, pids)
  let calls = clients.length
  const l = load(clients)
  let generation = c0.generation
  for (let i = 1; i <= 20; i++) {
    const r = await admin(gw, 'PUT', '/v1/filters/stamp', { revision: i, config: { tag: `t${i}` } })
    t.is(r.status, 200, JSON.stringify(r.body))
    t.is(r.body.generation, generation + 1)
    generation = r.body.generation as number
    // Applied by every worker before the answer: each reports it, and the next call on a
    // connection of either worker runs the new chain.
    const c = await config(gw)
    t.deepEqual(c.workers.map(w => w.generation), [generation, generation])
    for (const x of clients) {
      const s = await call(x.client)
      calls++
      t.is(s.tag, `t${i}`, `worker ${s.pid} after push ${i}`)
    }
  }
  await l.stop()
  t.deepEqual(l.failures, [])
  for (const p of pids) t.true((l.servedBy.get(p) ?? 0) > 0, `worker ${p} served calls`)
  calls += l.ok
  // The gateway counts a call when it ends (a beat after the reply): wait for the sum.
  const text = await until('requests summed over the workers', async () => (await scrape(gw.ports.admin)).text, tx => total(tx, 'isthmus_requests_total') === calls)
  t.is(total(text, 'isthmus_requests_total'), calls)
  t.is(sample(text, 'isthmus_worker_generation', { worker: '1' }), generation)
  t.is(sample(text, 'isthmus_worker_generation', { worker: '2' }), generation)
  t.true(sample(text, 'isthmus_downstream_connections', { listener: 'triple' }) >= clients.length)
})

test.serial('a change one worker cannot apply: 503 naming that worker, and every worker stays on the old generation', async (t) => {
  const { gw } = await startWorkers(t)
  const c0 = await config(gw)
  const pids = c0.workers.map(w => String(w.pid))
  const clients = await clientsOnEveryWorker(t, gw, pids, 1)
  // worker-stamp's compile throws in worker 2 only: the primary and worker 1 prepare it.
  const r = await admin(gw, 'PUT', '/v1/filters/stamp', { revision: 1, config: { tag: 'bad', failIn: '2' } })
  t.is(r.status, 503, JSON.stringify(r.body))
  const err = r.body.error as { code: string, message: string }
  t.is(err.code, 'ISTH_ERR_WORKER_APPLY')
  t.regex(err.message, /worker 2 \(pid \d+\).*refuses to compile in worker 2/)
  t.regex(err.message, new RegExp(`every worker stays on generation ${c0.generation}`))
  const c1 = await config(gw)
  t.is(c1.generation, c0.generation)
  t.deepEqual(c1.workers.map(w => w.generation), [c0.generation, c0.generation])
  t.is(c1.tag, 't0')
  // Worker 1 had prepared it: it threw that away, both still run the old chain.
  for (const x of clients) t.is((await call(x.client)).tag, 't0', `worker ${x.pid}`)
  const m = await scrape(gw.ports.admin)
  t.is(sample(m.text, 'isthmus_worker_apply_refused_total'), 1)
  // Nothing was stored: the same revision with good content applies everywhere.
  const ok = await admin(gw, 'PUT', '/v1/filters/stamp', { revision: 1, config: { tag: 'good' } })
  t.is(ok.status, 200, JSON.stringify(ok.body))
  const c2 = await config(gw)
  t.is(c2.generation, c0.generation + 1)
  t.deepEqual(c2.workers.map(w => w.generation), [c2.generation, c2.generation])
  for (const x of clients) t.is((await call(x.client)).tag, 'good', `worker ${x.pid}`)
})
