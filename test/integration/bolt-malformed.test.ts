import test from 'ava'
import { startSofaServer, sofaClient, sofaConsumer } from '../_peers/sofa-rpc.js'
import { startBoltGateway, type BoltGateway } from '../_helpers/bolt-gateway.js'
import { RawBoltClient, requestFrame } from '../_helpers/bolt-frames.js'
import { BoltStatus } from '../../gateway/errors.js'

interface Case { name: string, bytes: () => Buffer, id: number | null }

const cases: Case[] = [
  { name: 'unknown proto byte', bytes: () => { const b = requestFrame({ id: 11 }); b[0] = 0x07; return b }, id: null },
  { name: 'bad CRC', bytes: () => { const b = requestFrame({ id: 12, version: 'v2crc' }); b[b.length - 1] ^= 0xff; return b }, id: 12 },
  { name: 'negative class length', bytes: () => { const b = requestFrame({ id: 13 }); b.writeInt16BE(-5, 14); return b }, id: 13 },
  { name: 'negative content length', bytes: () => { const b = requestFrame({ id: 14 }); b.writeInt32BE(-1, 18); return b }, id: 14 },
  { name: 'contentLen over the limit', bytes: () => { const b = requestFrame({ id: 15 }); b.writeInt32BE(0x7fffff00, 18); return b }, id: 15 },
]

async function withGateway (t: import('ava').ExecutionContext, bolt: Record<string, unknown> = {}): Promise<{ gw: BoltGateway, healthy: () => Promise<number> }> {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const gw = await startBoltGateway({ upstreamPort: peer.port, bolt }); t.teardown(() => gw.close())
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, gw.port)
  let stop = false
  t.teardown(() => { stop = true })
  let errors = 0
  let calls = 0
  const loop = (async () => {
    while (!stop) {
      try { if (await c.invoke('plus', [calls, 1]) !== calls + 1) errors++ } catch { errors++ }
      calls++
    }
  })()
  return { gw, healthy: async () => { stop = true; await loop; t.true(calls > 0); return errors } }
}

test('each malformed input: CODEC_EXCEPTION when the id is known, connection closed, one log line, healthy client unaffected', async t => {
  const { gw, healthy } = await withGateway(t)
  for (const c of cases) {
    const raw = new RawBoltClient(gw.port); t.teardown(() => raw.close())
    await raw.ready()
    const before = gw.logs.length
    raw.write(c.bytes())
    await raw.until(() => raw.closed)
    if (c.id === null) t.is(raw.frames.length, 0, c.name)
    else {
      t.is(raw.frames.length, 1, c.name)
      t.is(raw.frames[0].requestId, c.id, c.name)
      t.is(raw.frames[0].status, BoltStatus.CODEC_EXCEPTION, c.name)
    }
    t.is(gw.logs.length - before, 1, c.name)
  }
  t.is(await healthy(), 0)
})

test('a truncated frame then silence is closed after the idle timeout', async t => {
  // 2 s, not 200 ms: the healthy client's connection must never look idle, even when a busy
  // machine stalls this process between two of its calls.
  const { gw, healthy } = await withGateway(t, { idleTimeoutMs: 2000 })
  const raw = new RawBoltClient(gw.port); t.teardown(() => raw.close())
  await raw.ready()
  raw.write(requestFrame({ id: 3 }).subarray(0, 30))
  await raw.until(() => raw.closed, 40000)
  t.true(raw.closed)
  t.is(gw.logs.filter(l => /partial frame/.test(String(l.msg))).length, 1)
  t.is(await healthy(), 0)
})

test('10,000 tiny frames in one write (heartbeats) are all answered, nothing breaks', async t => {
  const { gw, healthy } = await withGateway(t)
  const raw = new RawBoltClient(gw.port); t.teardown(() => raw.close())
  await raw.ready()
  const hb = Buffer.from([0x01, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0x01, 0, 0, 0x0b, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0])
  const all = Buffer.alloc(hb.length * 10000)
  for (let i = 0; i < 10000; i++) { hb.copy(all, i * hb.length); all.writeUInt32BE(i + 1, i * hb.length + 5) }
  raw.write(all)
  await raw.until(() => raw.frames.length >= 10000, 15000)
  t.is(raw.frames.length, 10000)
  t.false(raw.closed)
  t.is(await healthy(), 0)
})

test('10,000 tiny garbage frames in one write close only that connection', async t => {
  const { gw, healthy } = await withGateway(t)
  const raw = new RawBoltClient(gw.port); t.teardown(() => raw.close())
  await raw.ready()
  const junk = Buffer.alloc(10000 * 3)
  for (let i = 0; i < junk.length; i += 3) { junk[i] = 0x01; junk[i + 1] = 0x05; junk[i + 2] = 0x00 }
  raw.write(junk)
  await raw.until(() => raw.closed)
  t.is(gw.logs.length, 1)
  t.is(await healthy(), 0)
})
