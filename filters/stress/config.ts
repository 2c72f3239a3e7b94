/**
 * `stress` options and their compiled form: the marker sources per protocol (built-in SOFA
 * ones plus configured keys), the mark, the shadow target, the refuse switch, the baggage
 * bounds, replies and counters, prebuilt once per revision.
 */
import type { CompileContext, FilterCounter, JsonSchema, LocalReply } from '../../gateway/index.js'
import { escapeBaggage } from './baggage.js'

export interface StressKeyOptions {
  /** Triple header (lower-case) or Bolt header-map key. */
  name: string
  /** Listeners it is read on (default both). */
  protocols?: Array<'triple' | 'bolt'>
  /** `baggage`: a k=v& string carrying the mark; `value`: the whole value equals `value`. */
  form: 'baggage' | 'value'
  value?: string
}

export interface StressOptions {
  /** Incident switch: refuse every stress-test call; normal calls are untouched. */
  refuse: boolean
  /** The baggage pair that marks load-test traffic (SOFATracer: mark=T). */
  mark: { key: string, value: string }
  /** Read the SOFA sources: Triple tri-trace-biz-baggage, sofapenattrs, tri-traffic-type: pressure; Bolt rpc_trace_context.sofaPenAttrs, new_rpc_trace_context. */
  builtin: boolean
  keys: StressKeyOptions[]
  /** Route stress calls to hosts with these labels, or to this cluster, instead of the route's. */
  shadow?: { subset?: Record<string, string>, cluster?: string }
  /** Baggage longer than maxBytes, or with more pairs, is refused unparsed. */
  limits: { maxBytes: number, maxPairs: number }
  /** Refuse malformed baggage (default); false: treat it as unmarked (oversize is refused either way). */
  strict: boolean
}

const str = { type: 'string', minLength: 1 } as const

export const stressSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    refuse: { type: 'boolean', default: false },
    mark: {
      type: 'object', additionalProperties: false, default: {},
      properties: { key: { ...str, default: 'mark' }, value: { ...str, default: 'T' } },
    },
    builtin: { type: 'boolean', default: true },
    keys: {
      type: 'array', default: [],
      items: {
        type: 'object', additionalProperties: false, required: ['name', 'form'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 128 },
          protocols: { type: 'array', items: { enum: ['triple', 'bolt'] }, minItems: 1, uniqueItems: true },
          form: { enum: ['baggage', 'value'] },
          value: str,
        },
      },
    },
    shadow: {
      type: 'object', additionalProperties: false, minProperties: 1, maxProperties: 1,
      properties: { subset: { type: 'object', minProperties: 1, additionalProperties: { type: 'string' } }, cluster: str },
    },
    limits: {
      type: 'object', additionalProperties: false, default: {},
      properties: {
        maxBytes: { type: 'integer', minimum: 16, maximum: 65536, default: 4096 },
        maxPairs: { type: 'integer', minimum: 1, maximum: 1024, default: 64 },
      },
    },
    strict: { type: 'boolean', default: true },
  },
}

/** One place a mark can be: a header/key and how to read it. */
export interface MarkerSource {
  readonly name: string
  readonly baggage: boolean
  /** For `value` sources: the value that marks stress traffic. */
  readonly value: string
}

export type StressRefusal = 'switch' | 'oversize' | 'too-many-pairs' | 'malformed' | 'bad-escape' | 'shadow'

export interface StressConfig {
  readonly triple: readonly MarkerSource[]
  readonly bolt: readonly MarkerSource[]
  /** The mark, escaped as it appears in baggage. */
  readonly key: string
  readonly value: string
  readonly refuse: boolean
  readonly strict: boolean
  readonly maxBytes: number
  readonly maxPairs: number
  readonly shadowSubset: Readonly<Record<string, string>> | null
  readonly shadowCluster: string | null
  readonly replies: Readonly<Record<StressRefusal, LocalReply>>
  readonly labels: {
    readonly stress: Readonly<Record<string, string>>
    readonly normal: Readonly<Record<string, string>>
    readonly refused: Readonly<Record<StressRefusal, Readonly<Record<string, string>>>>
  }
  readonly calls: FilterCounter
  readonly refused: FilterCounter
}

export function compileStress (o: StressOptions, ctx: CompileContext): StressConfig {
  const triple: MarkerSource[] = []
  const bolt: MarkerSource[] = []
  if (o.builtin) {
    triple.push({ name: 'tri-traffic-type', baggage: false, value: 'pressure' })
    triple.push({ name: 'tri-trace-biz-baggage', baggage: true, value: '' })
    triple.push({ name: 'sofapenattrs', baggage: true, value: '' })
    bolt.push({ name: 'rpc_trace_context.sofaPenAttrs', baggage: true, value: '' })
    bolt.push({ name: 'new_rpc_trace_context', baggage: true, value: '' })
  }
  o.keys.forEach((k, i) => {
    if (k.form === 'value' && k.value === undefined) throw ctx.invalid('a key of form "value" needs the value that marks stress traffic', `/keys/${i}/value`)
    const protocols = k.protocols ?? ['triple', 'bolt']
    if (protocols.includes('triple') && k.name !== k.name.toLowerCase()) throw ctx.invalid('Triple header names are lower-case (set protocols: [bolt] for a Bolt key)', `/keys/${i}/name`)
    const src = Object.freeze({ name: k.name, baggage: k.form === 'baggage', value: k.value ?? '' })
    if (protocols.includes('triple') && !triple.some(s => s.name === src.name)) triple.push(src)
    if (protocols.includes('bolt') && !bolt.some(s => s.name === src.name)) bolt.push(src)
  })
  const reasons: Record<StressRefusal, string> = {
    switch: 'stress traffic is switched off at this gateway',
    oversize: `baggage longer than ${o.limits.maxBytes} bytes`,
    'too-many-pairs': `baggage with more than ${o.limits.maxPairs} pairs`,
    malformed: 'baggage pair is not key=value',
    'bad-escape': 'baggage has a % that is not %25, %26 or %3D',
    shadow: o.shadow?.cluster !== undefined ? `shadow cluster ${o.shadow.cluster} does not exist` : 'no shadow host in the route\'s cluster',
  }
  const replies = {} as Record<StressRefusal, LocalReply>
  const refusedLabels = {} as Record<StressRefusal, Readonly<Record<string, string>>>
  for (const [r, detail] of Object.entries(reasons) as Array<[StressRefusal, string]>) {
    replies[r] = ctx.localReply(r === 'switch' || r === 'shadow' ? 'ISTH_ERR_STRESS_REFUSED' : 'ISTH_ERR_STRESS_BAD_BAGGAGE', detail)
    refusedLabels[r] = Object.freeze({ reason: r })
  }
  return Object.freeze({
    triple: Object.freeze(triple),
    bolt: Object.freeze(bolt),
    key: escapeBaggage(o.mark.key),
    value: escapeBaggage(o.mark.value),
    refuse: o.refuse,
    strict: o.strict,
    maxBytes: o.limits.maxBytes,
    maxPairs: o.limits.maxPairs,
    shadowSubset: o.shadow?.subset === undefined ? null : Object.freeze({ ...o.shadow.subset }),
    shadowCluster: o.shadow?.cluster ?? null,
    replies: Object.freeze(replies),
    labels: Object.freeze({ stress: Object.freeze({ traffic: 'stress' }), normal: Object.freeze({ traffic: 'normal' }), refused: Object.freeze(refusedLabels) }),
    calls: ctx.counter('calls', 'calls seen by the stress filter, stress-test and normal traffic apart', ['traffic']),
    refused: ctx.counter('refused', 'calls the stress filter refused, by reason (switch: stress traffic off; the others: bad baggage, no shadow target)', ['reason']),
  })
}
