/**
 * The gateway's per-request decode work in one process, no sockets: 32 of the load client's
 * request frames in one buffer through BoltDecoder, then what the listener reads of each
 * (service, target service, method), for this build's dist/ and, when present, dist/.baseline/
 * (alternated rounds, median ns per frame). `npx tsc -p tsconfig.json && npx tsx bench/bolt-decode-cost.ts`.
 */
import { existsSync } from 'node:fs'
import { TEMPLATE } from './bolt-load-client.js'

const FRAMES = 32
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const ITER = Number(process.env.BENCH_ITER ?? 20000)

interface Frame { buf: Buffer, headerStart: number, contentStart: number, codec: number, requestId: number }
interface Build { name: string, run: () => void }

async function build (name: string, dir: string): Promise<Build> {
  const { BoltDecoder } = await import(`${dir}/gateway/protocol/bolt/decoder.js`)
  const { BoltHeaderView } = await import(`${dir}/gateway/protocol/bolt/header-view.js`)
  const { decodeBoltCall } = await import(`${dir}/gateway/protocol/bolt/decode.js`)
  const call = { service: '', method: '', version: '', group: '' }
  let sum = 0
  const sink = {
    onBoltFrame (f: Frame): void {
      const h = new BoltHeaderView(f.buf, f.headerStart, f.contentStart)
      call.service = ''
      decodeBoltCall(call, h, f, false)
      sum += call.service.length + f.requestId
    },
    onBoltCodecError (reason: string): void { throw new Error(reason) },
  }
  const input = Buffer.allocUnsafe(TEMPLATE.length * FRAMES)
  for (let i = 0; i < FRAMES; i++) { TEMPLATE.copy(input, i * TEMPLATE.length); input.writeUInt32BE(i + 1, i * TEMPLATE.length + 5) }
  return { name, run: () => { const d = new BoltDecoder(sink); d.push(input); if (sum < 0) throw new Error('unreachable') } }
}

const here = new URL('../dist', import.meta.url).pathname
const builds = [await build('this build', here)]
if (existsSync(`${here}/.baseline/gateway/protocol/bolt/decode.js`)) builds.push(await build('baseline', `${here}/.baseline`))
if (process.env.BENCH_OTHER !== undefined) builds.push(await build(process.env.BENCH_OTHER, process.env.BENCH_OTHER)) // another compiled tree
const times = new Map<string, number[]>(builds.map(b => [b.name, []]))
for (const b of builds) for (let i = 0; i < ITER; i++) b.run() // warm up
for (let r = 0; r < ROUNDS; r++) {
  for (const b of (r % 2 === 0 ? builds : [...builds].reverse())) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < ITER; i++) b.run()
    times.get(b.name)!.push(Number(process.hrtime.bigint() - t0) / (ITER * FRAMES))
  }
}
for (const [name, ts] of times) {
  ts.sort((a, b) => a - b)
  console.log(`${name}: ${ts[ts.length >> 1].toFixed(1)} ns per frame decoded (median of ${ROUNDS}; ${ts.map(t => t.toFixed(0)).join(' ')})`)
}
