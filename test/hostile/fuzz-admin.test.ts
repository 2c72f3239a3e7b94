/**
 * Network fuzz of the admin listener (issue 9): requests with random methods, known and
 * malformed paths (bad escapes, traversal), good/bad/no token, wrong content types, foreign
 * Origin/Host, lying content-length, JSON bodies with hostile revisions, then mutated.
 * No healthy clients here: with the token, a fuzzed write may legitimately change routes.
 */
import test from 'ava'
import { FUZZ_GATEWAYS, adminCases, fuzzPort, noInternalError } from '../_helpers/hostile-fuzz.js'
import { hostileSuite, httpCall, uncaughtErrors } from '../_helpers/hostile.js'

const RUNS = Number(process.env.ISTHMUS_FUZZ_RUNS ?? 2000)
const SEED = process.env.ISTHMUS_FUZZ_SEED === undefined ? undefined : Number(process.env.ISTHMUS_FUZZ_SEED)

const suite = hostileSuite(test, FUZZ_GATEWAYS.admin)

test.serial(`fuzz: ${RUNS} mutated admin API requests: the process never exits, never answers 500, logs no uncaught error, fds back to baseline`, async (t) => {
  t.timeout(120000)
  const gw = suite.gw
  const r = await fuzzPort(gw.adminPort, adminCases, { runs: RUNS, seed: SEED, alive: () => gw.alive(), check: noInternalError })
  t.log(`seed ${r.seed}: ${r.runs} requests in ${r.ms} ms`)
  t.is(r.failures, null, `the fuzz run failed (the gateway died, or a case could not be built; reproduce with ISTHMUS_FUZZ_SEED=${r.seed}): ${gw.describeExit()}\n${r.failures ?? ''}`)
  t.deepEqual(uncaughtErrors(gw), [], 'no uncaught error logged')
  t.is((await httpCall(gw.adminPort, 'GET', '/healthz')).status, 200, 'the admin API still answers')
  await gw.expectSettled(t, 'the fuzz')
})
