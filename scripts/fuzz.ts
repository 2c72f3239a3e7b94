/**
 * `npm run fuzz`: the network fuzz of test/hostile/fuzz-*.test.ts as a long campaign.
 * One spawned gateway per listener kind (the compiled CLI: the script builds first), rounds
 * of fast-check cases with a fresh seed each; after every round the process must be alive,
 * have logged no uncaught error, and be back to its baseline fds and connection gauges.
 *
 *   npm run fuzz                                   # every target, 20,000 cases each
 *   npm run fuzz -- --target bolt --runs 100000    # one target, more cases
 *   npm run fuzz -- --seed 12345 --round 2000      # replay: the seed of a failed round
 *   ISTHMUS_FUZZ_RUNS=50000 npm run fuzz           # same as --runs
 *
 * Exit 0 when every round passed; 1 with the failing target, seed and reason otherwise.
 */
import { parseArgs } from 'node:util'
import type fc from 'fast-check'
import { HostileGateway, uncaughtErrors } from '../test/_helpers/hostile.js'
import { FUZZ_GATEWAYS, adminCases, boltCases, fuzzPort, noInternalError, tripleCases, type FuzzCase } from '../test/_helpers/hostile-fuzz.js'

type Target = 'triple' | 'bolt' | 'admin'
const TARGETS: Record<Target, { cases: fc.Arbitrary<FuzzCase>, start: () => Promise<HostileGateway>, port: (g: HostileGateway) => number, check?: (answer: Buffer) => string | null }> = {
  triple: { cases: tripleCases, start: () => HostileGateway.start(FUZZ_GATEWAYS.triple), port: g => g.triplePort },
  bolt: { cases: boltCases, start: () => HostileGateway.start(FUZZ_GATEWAYS.bolt), port: g => g.boltPort },
  admin: { cases: adminCases, start: () => HostileGateway.start(FUZZ_GATEWAYS.admin), port: g => g.adminPort, check: noInternalError },
}

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    runs: { type: 'string', default: process.env.ISTHMUS_FUZZ_RUNS ?? '20000' },
    round: { type: 'string', default: '2000' },
    seed: { type: 'string', default: process.env.ISTHMUS_FUZZ_SEED },
    batch: { type: 'string', default: '16' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help === true) {
  process.stdout.write('usage: npm run fuzz -- [--target triple|bolt|admin|all] [--runs N] [--round N] [--seed S] [--batch N]\n')
  process.exit(0)
}
const targets: Target[] = values.target === 'all' ? ['triple', 'bolt', 'admin'] : [values.target as Target]
for (const t of targets) if (!(t in TARGETS)) { process.stderr.write(`fuzz: unknown target ${t}\n`); process.exit(2) }
const runs = Number(values.runs)
const round = Math.min(Number(values.round), runs)
const batch = Number(values.batch)
let seed = values.seed === undefined ? undefined : Number(values.seed)

let failed = false
for (const name of targets) {
  const target = TARGETS[name]
  const gw = await target.start()
  try {
    process.stdout.write(`${name}: gateway pid ${gw.pid}, baseline ${JSON.stringify(gw.baseline)}\n`)
    for (let done = 0; done < runs && !failed; done += round) {
      const s = seed ?? ((Date.now() ^ (Math.random() * 0x7fffffff)) | 0)
      seed = undefined // only the first round replays a given seed
      const r = await fuzzPort(target.port(gw), target.cases, { runs: Math.min(round, runs - done), seed: s, batch, alive: () => gw.alive(), check: target.check })
      const uncaught = uncaughtErrors(gw)
      const settled = gw.alive() ? await gw.waitSettled() : { ok: false, baseline: gw.baseline, now: null }
      const healthy = gw.loops.map(l => `${l.name} ${l.calls}/${l.errors}`).join(' ')
      process.stdout.write(`${name}: ${done + r.runs}/${runs} seed ${r.seed} ${r.ms} ms; healthy ok/errors ${healthy || '-'}\n`)
      if (r.failures !== null || uncaught.length > 0 || !settled.ok) {
        failed = true
        process.stdout.write(`${name}: FAILED at seed ${r.seed} (replay: npm run fuzz -- --target ${name} --seed ${r.seed} --round ${r.runs})\n`)
        if (r.failures !== null) process.stdout.write(`  property: ${r.failures}\n  gateway: ${gw.describeExit()}\n`)
        for (const u of uncaught.slice(0, 5)) process.stdout.write(`  uncaught: ${u}\n`)
        if (!settled.ok) process.stdout.write(`  not settled: baseline ${JSON.stringify(settled.baseline)}, now ${JSON.stringify(settled.now)}\n`)
      }
    }
  } finally {
    await gw.close()
  }
  if (failed) break
}
process.exit(failed ? 1 : 0)
