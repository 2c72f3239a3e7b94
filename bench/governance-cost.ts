/**
 * Microbench: what the governance filters (ldc + stress + rate-limit with a non-binding rule)
 * cost per call on the call path itself (onRequest of each, then rate-limit's onLog), on a
 * Bolt call (header-map view over a SOFARPC-like frame) and a Triple call, with the filters'
 * counters as the gateway's plain counters (CompileContext.counter) and as no-ops (what
 * fields read at scrape time would cost, ~0). Alternated rounds, medians. `tsx bench/governance-cost.ts`
 */
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import ldc from '../filters/ldc/index.js'
import stress from '../filters/stress/index.js'
import rateLimit from '../filters/rate-limit/index.js'
import type { CompileContext, Filter, FilterFactory } from '../gateway/index.js'
import { Call } from '../gateway/call/call.js'
import { ObjectHeaders } from '../gateway/call/headers.js'
import { BoltHeaderView, encodeHeaderMap } from '../gateway/protocol/bolt/header-view.js'
import { LocalReply } from '../gateway/chain/local-reply.js'
import { IsthmusError } from '../gateway/errors.js'
import { compileValidator } from '../gateway/config/validate.js'
import { plainCounter } from '../gateway/metrics.js'
import { governanceFilters } from './lib/governance.js'

const SERVICE = 'com.example.EchoService'
const N = 200_000
const ROUNDS = 7

function context (prom: boolean): CompileContext {
  return {
    entity: 'bench',
    baseDir: process.cwd(),
    logger: pino({ level: 'silent' }),
    invalid: (m, p) => new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${p}: ${m}`, p),
    localReply: (code, detail, message) => new LocalReply(code, detail, message),
    readsMethod: () => {},
    // The gateway's own counters (plain fields read at scrape time), or none at all.
    counter: (name, help, labels = []) => prom ? plainCounter(`isthmus_bench_${name}_total`, help, labels) : { inc () {}, cell: () => ({ n: 0 }) },
  }
}

function chain (prom: boolean): Filter[] {
  const g = governanceFilters(SERVICE, false) as { filters: Array<{ name: string, config?: unknown }>, ldc: unknown }
  const ctx = context(prom)
  const byName: Record<string, FilterFactory> = { ldc: ldc as FilterFactory, stress: stress as FilterFactory, 'rate-limit': rateLimit as FilterFactory }
  return g.filters.map((e) => {
    const f = byName[e.name]
    const opts = compileValidator(f.schema)(structuredClone(e.name === 'ldc' ? g.ldc : e.config ?? {}), '/')
    return f.create(f.compile(opts, ctx))
  })
}

const boltHeader = encodeHeaderMap(new Map([
  ['service', `${SERVICE}:1.0`], ['sofa_head_method_name', 'echo'], ['sofa_head_target_service', `${SERVICE}:1.0`],
  ['sofa_head_target_app', 'provider'], ['app', 'consumer'], ['protocol', 'bolt'], ['type', 'sync'],
  ['rpc_trace_context.sofaTraceId', '0a0b0c0d1700000000001'], ['rpc_trace_context.sofaRpcId', '0.1'],
  ['rpc_trace_context.sofaCallerApp', 'consumer'], ['x-ldc-uid', '2088000012345'], ['rpc_trace_context.sofaPenAttrs', 'scene=bench&'],
]))

function makeCall (protocol: 'bolt' | 'triple'): Call {
  const headers = protocol === 'bolt'
    ? new BoltHeaderView(boltHeader, 0, boltHeader.length)
    : new ObjectHeaders({ ':path': `/${SERVICE}/echo`, 'content-type': 'application/grpc', te: 'trailers', 'x-ldc-uid': '2088000012345', 'tri-trace-biz-baggage': 'scene=bench&' })
  const c = new Call(protocol, protocol, headers, '127.0.0.1')
  c.service = SERVICE
  c.method = 'echo'
  c.phase = 3 // afterRoute
  return c
}

function run (filters: Filter[], protocol: 'bolt' | 'triple'): number {
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    const c = makeCall(protocol)
    for (let j = 0; j < filters.length; j++) filters[j].onRequest!(c)
    c.status = 0
    for (let j = 0; j < filters.length; j++) filters[j].onLog?.(c)
  }
  return (performance.now() - t0) * 1e6 / N // ns per call
}

function baseline (protocol: 'bolt' | 'triple'): number {
  const t0 = performance.now()
  for (let i = 0; i < N; i++) { const c = makeCall(protocol); c.status = 0 }
  return (performance.now() - t0) * 1e6 / N
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)] }
const withProm = chain(true)
const plain = chain(false)
const rows: Record<string, number[]> = {}
for (let r = 0; r < ROUNDS; r++) {
  for (const p of ['bolt', 'triple'] as const) {
    (rows[`${p} baseline (Call only)`] ??= []).push(baseline(p))
    ;(rows[`${p} governance, plain counters`] ??= []).push(run(withProm, p))
    ;(rows[`${p} governance, no-op counters`] ??= []).push(run(plain, p))
  }
}
console.log(`governance filters per call, ${N} calls x ${ROUNDS} rounds, medians (node ${process.version})\n`)
console.log('| case | ns/call | over the Call alone |')
console.log('|---|---:|---:|')
for (const [k, v] of Object.entries(rows)) {
  const base = median(rows[`${k.split(' ')[0]} baseline (Call only)`])
  console.log(`| ${k} | ${median(v).toFixed(0)} | ${k.includes('baseline') ? '–' : (median(v) - base).toFixed(0)} |`)
}
for (const f of [...withProm, ...plain]) void f.close?.()
