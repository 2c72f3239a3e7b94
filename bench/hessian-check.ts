/**
 * `npm run bench:hessian-check`: ns per request of the Bolt content check (the skip-parse of
 * a request's hessian2 content before it may go to a shared upstream connection), on
 * requests encoded by sofa-bolt-node: a typical SofaRequest (echo of a short string, 323
 * bytes as sofa-rpc-node frames it), plus(2, 3), and one with a 4 KiB string argument. The
 * method read (sofa-method.ts) is timed beside it for scale. Medians of alternated rounds;
 * writes bench/results/hessian-check-<ts>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { BoltDecoder } from '../gateway/protocol/bolt/decoder.js'
import type { BoltFrame } from '../gateway/protocol/bolt/command.js'
import { BoltHeaderView } from '../gateway/protocol/bolt/header-view.js'
import { checkBoltContent } from '../gateway/protocol/bolt/hessian-check.js'
import { readSofaMethod } from '../gateway/protocol/bolt/sofa-method.js'
import { boltRequest } from '../test/_helpers/hostile-bolt.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const N = Number(process.env.BENCH_N ?? 200000)
const SERVICE = 'com.isthmus.test.EchoService:1.0'

function frameOf (buf: Buffer): BoltFrame {
  let got: BoltFrame | null = null
  new BoltDecoder({ onBoltFrame (f) { got = f }, onBoltCodecError (r) { throw new Error(r) } }).push(buf)
  if (got === null) throw new Error('no frame')
  return got
}

const cases: Array<[string, BoltFrame]> = [
  ['echo("hello, isthmus")', frameOf(boltRequest({ id: 1, service: SERVICE, method: 'echo', args: ['hello, isthmus'] }))],
  ['plus(2, 3)', frameOf(boltRequest({ id: 2, service: SERVICE, method: 'plus', args: [2, 3] }))],
  ['echo(4 KiB string)', frameOf(boltRequest({ id: 3, service: SERVICE, method: 'echo', args: ['x'.repeat(4096)] }))],
]
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]

let sink = 0
function time (fn: () => number): number {
  const t0 = performance.now()
  for (let i = 0; i < N; i++) sink += fn()
  return (performance.now() - t0) * 1e6 / N
}

const out: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, rounds: ROUNDS, n: N, cases: {} }
for (const [name, f] of cases) {
  const h = new BoltHeaderView(f.buf, f.headerStart, f.contentStart)
  if (checkBoltContent(f, h, undefined) !== '') throw new Error(`${name}: refused`)
  const check: number[] = []
  const method: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    check.push(time(() => checkBoltContent(f, h, undefined).length))
    method.push(time(() => readSofaMethod(f).length))
  }
  const row = { frameBytes: f.buf.length, contentBytes: f.contentEnd - f.contentStart, checkNs: Math.round(median(check)), readMethodNs: Math.round(median(method)) }
  ;(out.cases as Record<string, unknown>)[name] = row
  console.log(`${name}: ${row.frameBytes} B frame (${row.contentBytes} B content): check ${row.checkNs} ns, method read ${row.readMethodNs} ns`)
}
if (sink === -1) console.log(sink)
mkdirSync('bench/results', { recursive: true })
const file = `bench/results/hessian-check-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`
writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
console.log(`wrote ${file}`)
