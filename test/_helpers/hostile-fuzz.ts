/**
 * Network fuzz of the gateway's listeners (fast-check): random and mutated byte streams,
 * each sent on its own TCP connection that then ends one of four ways (FIN, RST, destroy,
 * or wait for the gateway to close it). Shared by test/hostile/fuzz-*.test.ts (a few
 * thousand runs) and scripts/fuzz.ts (`npm run fuzz`, as many as asked).
 *
 * Inputs start from valid traffic (an HTTP/2 preface and frames, HTTP/1.1 requests, Bolt
 * frames encoded by sofa-bolt-node, admin API requests) and are then mutated: bytes
 * overwritten, bits flipped, cut short, split into chunks at random points.
 */
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { connect, type Socket } from 'node:net'
import { ADMIN_TOKEN, ECHO_SERVICE, SOFA_SERVICE, SOFA_VERSION, type HostileOptions } from './hostile.js'
import { H2, H2_PREFACE, echoRequest, grpcMessage, h2Frame, hpack } from './hostile-net.js'

const require = createRequire(import.meta.url)
const boltProtocol = require('sofa-bolt-node/lib/protocol') as {
  requestEncode (id: number, req: Record<string, unknown>, o: Record<string, unknown>): Buffer
  heartbeatEncode (id: number, hb: Record<string, unknown>, o: Record<string, unknown>): Buffer
}

export type Ending = 'fin' | 'rst' | 'destroy' | 'wait'

/**
 * The gateway each fuzz target runs against (the suite's fuzz-*.test.ts and scripts/fuzz.ts).
 * Triple: small bounds, so any session the fuzz leaves stuck must be closed by one of them
 * before the fds check (node reports nothing for a session nghttp2 itself sent GOAWAY to on a
 * connection error: no first stream -> headers, no call -> idle, GOAWAY -> grace; a forwarded
 * call ends at the route timeout). Admin: no healthy clients (a fuzzed write with the token
 * may legitimately change routes or drain).
 */
export const FUZZ_GATEWAYS: Readonly<Record<'triple' | 'bolt' | 'admin', HostileOptions>> = {
  triple: {
    bolt: false,
    triple: { limits: { firstByteTimeoutMs: 1000, headersTimeoutMs: 1000, requestTimeoutMs: 3000, idleTimeoutMs: 1500, goawayGraceMs: 500 } },
    routeTimeoutMs: 3000,
  },
  bolt: { triple: false, bolt: { limits: { firstByteTimeoutMs: 1000, frameTimeoutMs: 1000, writeStallMs: 1000 } } },
  admin: { healthy: { grpc: 0, sofa: 0 } },
}

/** One fuzz case: what to write (in chunks) on one connection, and how to end it. */
export interface FuzzCase {
  readonly chunks: readonly Buffer[]
  readonly ending: Ending
}

// ---------------------------------------------------------------------------------------
// Mutations

const mutation = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
)
type Mutation = { kind: 'set' | 'cut' | 'insert', at: number, value: number } | { kind: 'flip', at: number, bit: number }

function mutate (b: Buffer, ms: readonly Mutation[], protect = 0): Buffer {
  let out = Buffer.from(b)
  for (const m of ms) {
    if (out.length <= protect) break
    const at = protect + (m.at % (out.length - protect))
    if (m.kind === 'set') out[at] = m.value
    else if (m.kind === 'flip') out[at] ^= 1 << m.bit
    else if (m.kind === 'cut') out = out.subarray(0, at)
    else out = Buffer.concat([out.subarray(0, at), Buffer.from([m.value]), out.subarray(at)])
  }
  return out
}

/** Split into chunks at random points (each chunk is one write). */
function split (b: Buffer, cuts: readonly number[]): Buffer[] {
  if (b.length === 0) return []
  const points = [...new Set(cuts.map(c => c % b.length))].filter(p => p > 0).sort((x, y) => x - y)
  const out: Buffer[] = []
  let last = 0
  for (const p of points) { out.push(b.subarray(last, p)); last = p }
  out.push(b.subarray(last))
  return out
}

const ending: fc.Arbitrary<Ending> = fc.constantFrom<Ending>('fin', 'rst', 'destroy', 'wait', 'wait')

/** Valid bytes -> mutated (often), chunked, with an ending. `protect` bytes at the start are kept intact half the time. */
export function mutated (valid: fc.Arbitrary<Buffer>, protect = 0): fc.Arbitrary<FuzzCase> {
  return fc.record({
    bytes: valid,
    muts: fc.oneof({ weight: 1, arbitrary: fc.constant([] as Mutation[]) }, { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 6 }) as fc.Arbitrary<Mutation[]> }),
    keepStart: fc.boolean(),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
    ending,
  }).map(r => ({ chunks: split(mutate(r.bytes, r.muts, r.keepStart ? protect : 0), r.cuts), ending: r.ending }))
}

// ---------------------------------------------------------------------------------------
// HTTP/2

const streamId = fc.oneof(fc.constantFrom(0, 1, 3, 5, 7, 2), fc.integer({ min: 0, max: 0x7fffffff }))
const u32 = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 65535, 16384), fc.integer({ min: 0, max: 0xffffffff }))
const h2Path = fc.oneof(
  fc.constantFrom(`/${ECHO_SERVICE}/Unary`, `/${ECHO_SERVICE}/ServerStream`, `/${ECHO_SERVICE}/Bidi`, '/', '', '*', '/x', '/a/b/c', `/${ECHO_SERVICE}/Unary?x=%zz`),
  fc.string({ maxLength: 40 }).map(s => '/' + s),
)
const field = fc.oneof(
  fc.tuple(fc.constantFrom(':method', ':scheme', ':path', ':authority', ':status', ':protocol', 'content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'connection', 'transfer-encoding', 'host', 'tri-service-version', 'x-a-bin', 'upgrade'),
    fc.oneof(fc.constantFrom('POST', 'GET', 'http', 'application/grpc', 'trailers', 'gzip', '1S', '99999999H', '-1m', 'close', 'chunked', ''), fc.string({ maxLength: 20 }))),
  fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 20 })),
)
const headersBlock = fc.record({ path: h2Path, extra: fc.array(field, { maxLength: 4 }), dropMethod: fc.boolean(), upper: fc.boolean() })
  .map(r => {
    const fields: Array<readonly [string, string]> = [[':method', 'POST'], [':scheme', 'http'], [':path', r.path], [':authority', 'gw'], ['content-type', 'application/grpc'], ['te', 'trailers'], ...r.extra]
    if (r.dropMethod) fields.shift()
    return hpack(r.upper ? fields.map(([k, v]) => [k.toUpperCase(), v] as const) : fields)
  })
const message = fc.oneof(
  fc.record({ message: fc.string({ maxLength: 20 }), count: fc.integer({ min: 0, max: 5 }) }).map(o => grpcMessage(echoRequest(o))),
  fc.uint8Array({ maxLength: 64 }).map(a => Buffer.from(a)),
)
const h2FrameArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ id: streamId, block: headersBlock, flags: fc.oneof(fc.constantFrom(H2.END_HEADERS, H2.END_HEADERS | H2.END_STREAM, 0, H2.PADDED | H2.END_HEADERS, H2.PRIORITY_FLAG | H2.END_HEADERS), fc.integer({ min: 0, max: 255 })) }).map(r => h2Frame(H2.HEADERS, r.flags, r.id, r.block)) },
  { weight: 3, arbitrary: fc.record({ id: streamId, body: message, end: fc.boolean() }).map(r => h2Frame(H2.DATA, r.end ? H2.END_STREAM : 0, r.id, r.body)) },
  { weight: 2, arbitrary: fc.record({ id: streamId, code: u32 }).map(r => { const p = Buffer.alloc(4); p.writeUInt32BE(r.code); return h2Frame(H2.RST_STREAM, 0, r.id, p) }) },
  { weight: 2, arbitrary: fc.record({ ack: fc.boolean(), entries: fc.array(fc.tuple(fc.integer({ min: 0, max: 10 }), u32), { maxLength: 4 }) }).map(r => {
    const p = Buffer.alloc(r.entries.length * 6)
    r.entries.forEach(([k, v], i) => { p.writeUInt16BE(k, i * 6); p.writeUInt32BE(v, i * 6 + 2) })
    return h2Frame(H2.SETTINGS, r.ack ? H2.ACK : 0, 0, p)
  }) },
  { weight: 1, arbitrary: fc.record({ id: streamId, inc: u32 }).map(r => { const p = Buffer.alloc(4); p.writeUInt32BE(r.inc); return h2Frame(H2.WINDOW_UPDATE, 0, r.id, p) }) },
  { weight: 1, arbitrary: fc.record({ last: streamId, code: u32 }).map(r => { const p = Buffer.alloc(8); p.writeUInt32BE(r.last & 0x7fffffff); p.writeUInt32BE(r.code, 4); return h2Frame(H2.GOAWAY, 0, 0, p) }) },
  { weight: 1, arbitrary: fc.record({ ack: fc.boolean(), id: fc.constantFrom(0, 1) }).map(r => h2Frame(H2.PING, r.ack ? H2.ACK : 0, r.id, Buffer.alloc(8))) },
  { weight: 1, arbitrary: fc.record({ id: streamId, dep: u32 }).map(r => { const p = Buffer.alloc(5); p.writeUInt32BE(r.dep); return h2Frame(H2.PRIORITY, 0, r.id, p) }) },
  { weight: 1, arbitrary: fc.record({ id: streamId, block: headersBlock }).map(r => h2Frame(H2.CONTINUATION, H2.END_HEADERS, r.id, r.block)) },
  { weight: 1, arbitrary: fc.record({ id: streamId, block: headersBlock }).map(r => { const p = Buffer.alloc(4); p.writeUInt32BE(2); return h2Frame(H2.PUSH_PROMISE, H2.END_HEADERS, r.id, Buffer.concat([p, r.block])) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.integer({ min: 10, max: 255 }), flags: fc.integer({ min: 0, max: 255 }), id: streamId, p: fc.uint8Array({ maxLength: 32 }) }).map(r => h2Frame(r.type, r.flags, r.id, Buffer.from(r.p))) },
)
/** A plausible HTTP/2 connection: preface, SETTINGS, then frames (HEADERS+RST pairs are common). */
const h2Connection: fc.Arbitrary<Buffer> = fc.record({
  settings: fc.boolean(),
  frames: fc.array(h2FrameArb, { maxLength: 12 }),
  resetBurst: fc.nat({ max: 40 }),
}).map(r => {
  const parts: Buffer[] = [H2_PREFACE]
  if (r.settings) parts.push(h2Frame(H2.SETTINGS, 0, 0))
  parts.push(...r.frames)
  for (let i = 0; i < r.resetBurst; i++) {
    const id = 101 + 2 * i
    parts.push(h2Frame(H2.HEADERS, H2.END_HEADERS, id, hpack([[':method', 'POST'], [':scheme', 'http'], [':path', `/${ECHO_SERVICE}/Unary`], [':authority', 'gw'], ['content-type', 'application/grpc'], ['te', 'trailers']])))
    const p = Buffer.alloc(4); p.writeUInt32BE(H2.CANCEL)
    parts.push(h2Frame(H2.RST_STREAM, 0, id, p))
  }
  return Buffer.concat(parts)
})

export const h2Cases: fc.Arbitrary<FuzzCase> = mutated(h2Connection, H2_PREFACE.length)

// ---------------------------------------------------------------------------------------
// HTTP/1.1 (Triple unary, and whatever a scanner sends to the same port)

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)
const h1Header = fc.oneof(
  fc.tuple(fc.constantFrom('host', 'content-type', 'tri-protocol-version', 'te', 'connection', 'upgrade', 'transfer-encoding', 'content-length', 'expect', 'http2-settings', 'tri-service-version', 'grpc-timeout', 'keep-alive', 'trailer'),
    fc.oneof(fc.constantFrom('gw', 'application/json', 'application/proto', 'application/grpc', '1.0.0', 'trailers', 'gzip', 'close', 'keep-alive', 'Upgrade, HTTP2-Settings', 'h2c', 'chunked', 'gzip, chunked', '0', '5', '-1', '99999999999999999999', '100-continue', 'AAMAAABkAAQAAP__'), fc.string({ maxLength: 24 }))),
  fc.tuple(token, fc.string({ maxLength: 24 })),
)
const h1Request: fc.Arbitrary<Buffer> = fc.record({
  method: fc.oneof(fc.constantFrom('POST', 'GET', 'PUT', 'HEAD', 'OPTIONS', 'PRI', 'CONNECT', 'DELETE'), token),
  path: fc.oneof(fc.constantFrom(`/${ECHO_SERVICE}/Unary`, '/', '*', '/%', '/a/b', 'http://evil/x', `/${ECHO_SERVICE}/Unary?%ff`), fc.string({ maxLength: 30 }).map(s => '/' + s)),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', ''),
  headers: fc.array(h1Header, { maxLength: 8 }),
  body: fc.oneof(fc.constant(''), fc.constant('{}'), fc.constant('{"message":"fuzz"}'), fc.constant('5\r\nhello\r\n0\r\n\r\n'), fc.string({ maxLength: 64 })),
  keepAlive: fc.nat({ max: 2 }),
}).map(r => {
  const head = `${r.method} ${r.path} ${r.version}\r\n${r.headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}${r.headers.length > 0 ? '\r\n' : ''}\r\n`
  const one = head + r.body
  return Buffer.from(Array.from({ length: r.keepAlive + 1 }, () => one).join(''), 'utf8')
})

export const h1Cases: fc.Arbitrary<FuzzCase> = mutated(h1Request)

/** The Triple listener: HTTP/2 most of the time, HTTP/1.1 and plain garbage the rest. */
export const tripleCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 6, arbitrary: h2Cases },
  { weight: 3, arbitrary: h1Cases },
  { weight: 1, arbitrary: fc.record({ b: fc.uint8Array({ maxLength: 200 }), ending }).map(r => ({ chunks: r.b.length === 0 ? [] : [Buffer.from(r.b)], ending: r.ending })) },
)

// ---------------------------------------------------------------------------------------
// Bolt

const boltOpts = fc.constantFrom(
  { protocolType: 'bolt', codecType: 'hessian2' },
  { protocolType: 'bolt2', codecType: 'hessian2', boltVersion: 1, crcEnable: false },
  { protocolType: 'bolt2', codecType: 'hessian2', boltVersion: 2, crcEnable: true },
)
const boltFrame: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: fc.record({
    id: fc.integer({ min: 0, max: 0x7fffffff }),
    service: fc.oneof(fc.constant(`${SOFA_SERVICE}:${SOFA_VERSION}`), fc.constant(SOFA_SERVICE), fc.string({ maxLength: 30 })),
    method: fc.oneof(fc.constantFrom('echo', 'plus', 'nope', ''), fc.string({ maxLength: 12 })),
    args: fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.integer({ min: -1000, max: 1000 })), { maxLength: 3 }),
    timeout: fc.oneof(fc.constantFrom(0, 1, 3000, 0x7fffffff), fc.integer({ min: 0, max: 10000 })),
    oneway: fc.boolean(),
    opts: boltOpts,
  }).map(r => Buffer.from(boltProtocol.requestEncode(r.id, {
    serverSignature: r.service, methodName: r.method, timeout: r.timeout, oneway: r.oneway,
    args: r.args.map(a => ({ $class: typeof a === 'number' ? 'int' : 'java.lang.String', $: a })),
  }, r.opts))) },
  { weight: 2, arbitrary: fc.record({ id: fc.nat(), opts: boltOpts }).map(r => Buffer.from(boltProtocol.heartbeatEncode(r.id, { clientUrl: 'fuzz' }, r.opts))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map(a => Buffer.from(a)) },
)
/** A Bolt connection: one or more frames back to back; mutations hit the fixed headers most (they come first). */
const boltConnection: fc.Arbitrary<Buffer> = fc.array(boltFrame, { minLength: 1, maxLength: 4 }).map(fs => Buffer.concat(fs))

export const boltCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 4, arbitrary: mutated(boltConnection) },
  // Targeted: overwrite fields of the fixed header of a valid frame (lengths, proto, type, cmd, codec, switch).
  { weight: 3, arbitrary: fc.record({
    frame: boltFrame, at: fc.integer({ min: 0, max: 23 }), value: fc.integer({ min: 0, max: 255 }), at2: fc.integer({ min: 0, max: 23 }), value2: fc.integer({ min: 0, max: 255 }), ending,
  }).map(r => {
    const b = Buffer.from(r.frame)
    if (r.at < b.length) b[r.at] = r.value
    if (r.at2 < b.length) b[r.at2] = r.value2
    return { chunks: [b], ending: r.ending }
  }) },
)

// ---------------------------------------------------------------------------------------
// Admin API

const adminPath = fc.oneof(
  fc.constantFrom('/ready', '/healthz', '/metrics', '/v1/config', '/v1/listeners', '/v1/clusters', '/v1/clusters/echo', '/v1/clusters/fuzz-c', '/v1/clusters/fuzz-c/hosts',
    '/v1/routes', '/v1/ldc', '/v1/policies', '/v1/filters', '/v1/filters/x', '/v1/discovery/apps', '/v1/discovery/apps/fuzz-app', '/v1/discovery/services/com.fuzz.S',
    '/v1/clusters/%E0%A4%A', '/v1/discovery/services/%', '/v1/discovery/apps/..%2F..', '/v1//clusters', '/v1/clusters/a/b/c', '/../v1/config', '/v1/ldc?revision=1e308',
    '/v1/discovery/apps/fuzz-app?revision=-1', '/v1/discovery/apps/fuzz-app?revision=%ff'),
  fc.string({ maxLength: 30 }).map(s => '/v1/' + s),
)
const revision = fc.oneof(fc.constantFrom('1', '2', '0', '-1', '1.5', '1e308', '1e400', '9007199254740993', '"1"', 'null', '[]'), fc.integer({ min: 0, max: 100 }).map(String))
const adminBody = fc.oneof(
  fc.constant(''),
  fc.jsonValue({ maxDepth: 3 }).map(v => JSON.stringify(v)),
  fc.record({ rev: revision, rest: fc.constantFrom(
    '"table": [{"from": 0, "to": 99, "zone": "z"}]',
    '"routes": []',
    '"protocol": "triple", "hosts": [{"address": "127.9.9.9", "port": 1}]',
    '"instances": [{"address": "127.9.9.9", "port": 1}], "services": [{"name": "com.fuzz.S"}]',
    '"app": "fuzz-app", "providers": [{"address": "127.9.9.9", "port": 1}]',
    '"add": [{"address": "127.9.9.9", "port": 2}], "remove": ["127.9.9.9:1"]',
    '"default": "allow", "rules": []',
    '"config": {}',
  ) }).map(r => `{"revision": ${r.rev}, ${r.rest}}`),
  fc.string({ maxLength: 64 }),
)
const adminRequest: fc.Arbitrary<Buffer> = fc.record({
  method: fc.oneof(fc.constantFrom('GET', 'GET', 'PUT', 'PUT', 'POST', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'), token),
  path: adminPath,
  auth: fc.constantFrom('good', 'good', 'none', 'bad', 'garbage'),
  type: fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', ''),
  origin: fc.constantFrom('', '', 'http://evil.example', 'null', 'http://127.0.0.1'),
  host: fc.constantFrom('127.0.0.1', '127.0.0.1', 'evil.example', '', 'localhost:1'),
  body: adminBody,
  lengthLie: fc.constantFrom(0, 0, 0, -1, 5, 100000),
}).map(r => {
  const body = Buffer.from(r.body, 'utf8')
  const h: string[] = []
  if (r.host !== '') h.push(`host: ${r.host}`)
  if (r.auth === 'good') h.push(`authorization: Bearer ${ADMIN_TOKEN}`)
  else if (r.auth === 'bad') h.push('authorization: Bearer wrong')
  else if (r.auth === 'garbage') h.push('authorization: Basic \u0001\u0002')
  if (r.type !== '') h.push(`content-type: ${r.type}`)
  if (r.origin !== '') h.push(`origin: ${r.origin}`)
  if (body.length > 0 || r.lengthLie !== 0) h.push(`content-length: ${r.lengthLie === 0 ? body.length : r.lengthLie === -1 ? -1 : body.length + r.lengthLie}`)
  h.push('connection: close')
  return Buffer.concat([Buffer.from(`${r.method} ${r.path} HTTP/1.1\r\n${h.join('\r\n')}\r\n\r\n`, 'latin1'), body])
})

export const adminCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ b: adminRequest, ending }).map(r => ({ chunks: [r.b], ending: r.ending })) },
  { weight: 2, arbitrary: mutated(adminRequest) },
)

// ---------------------------------------------------------------------------------------
// Driving

/** Send one case on a fresh connection; resolves with the first bytes the gateway answered once the connection is gone (bounded by `waitMs`). */
export function sendCase (port: number, c: FuzzCase, waitMs = 100): Promise<Buffer> {
  return new Promise((resolve) => {
    const s: Socket = connect({ port, host: '127.0.0.1' })
    let done = false
    const got: Buffer[] = []
    let gotLen = 0
    const finish = (): void => { if (!done) { done = true; clearTimeout(timer); s.destroy(); resolve(Buffer.concat(got)) } }
    const timer = setTimeout(finish, waitMs + 2000)
    s.on('error', () => {})
    s.on('close', finish)
    s.on('data', (b: Buffer) => { if (gotLen < 512) { got.push(b); gotLen += b.length } })
    s.once('connect', () => {
      for (const chunk of c.chunks) s.write(chunk)
      switch (c.ending) {
        case 'fin': s.end(); setTimeout(finish, waitMs); break
        case 'rst': setImmediate(() => { if (!s.destroyed) s.resetAndDestroy(); finish() }); break
        case 'destroy': s.end(); setImmediate(finish); break
        case 'wait': setTimeout(finish, waitMs); break
      }
    })
  })
}

export interface FuzzRun { runs: number, seed: number, failures: string | null, ms: number }

/**
 * `runs` cases against `port`, `batch` connections at a time; after each batch the gateway
 * must still be alive (`alive()`). No shrinking (a dead process makes every later run fail):
 * the report names the seed and the failing batch.
 */
export async function fuzzPort (port: number, cases: fc.Arbitrary<FuzzCase>, o: { runs: number, batch?: number, seed?: number, alive: () => boolean, waitMs?: number, check?: (answer: Buffer) => string | null }): Promise<FuzzRun> {
  const batch = o.batch ?? 16
  const seed = o.seed ?? Date.now() ^ (Math.random() * 0x7fffffff)
  const started = Date.now()
  let failures: string | null = null
  try {
    await fc.assert(fc.asyncProperty(fc.array(cases, { minLength: batch, maxLength: batch }), async (group) => {
      const answers = await Promise.all(group.map(c => sendCase(port, c, o.waitMs)))
      if (o.check !== undefined) {
        for (let i = 0; i < answers.length; i++) {
          const bad = o.check(answers[i])
          if (bad !== null) throw new Error(`${bad} for ${describeCase(group[i]).slice(0, 600)}`)
        }
      }
      return o.alive()
    }), { numRuns: Math.ceil(o.runs / batch), seed, endOnFailure: true })
  } catch (err) {
    failures = (err as Error).message.slice(0, 4000)
  }
  return { runs: o.runs, seed, failures, ms: Date.now() - started }
}

/** The admin API never answers 500 (an internal error is a bug, whatever the input). */
export function noInternalError (answer: Buffer): string | null {
  const line = answer.toString('latin1', 0, Math.min(answer.length, 200)).split('\r\n')[0]
  return /^HTTP\/1\.[01] 500 /.test(line) ? `the admin API answered "${line}"` : null
}

/** Hex of a case, for a report. */
export function describeCase (c: FuzzCase): string {
  return `${c.ending}: ${c.chunks.map(b => b.toString('hex')).join(' | ')}`
}
