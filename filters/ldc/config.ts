/**
 * `ldc` options (the top-level `ldc` section, which the gateway puts in this entry's config)
 * and their compiled form: a zone per shard, the city copies, the forwarding targets, header
 * names, shard strings, replies and counters, all prebuilt once per revision of the section.
 * The section's semantics (ranges, zone types, gateway clusters) are checked by the config
 * loader (gateway/config/ldc.ts) before this runs, with `/ldc/...` paths.
 */
import { IsthmusError, ldcSchema, ldcZones, localZonesOf, type CompileContext, type Decision, type FilterCounter, type JsonSchema, type LdcOptions, type LocalReply, type ZoneKind } from '../../gateway/index.js'

/** The filter accepts the section's shape; with no section yet (a later `PUT /v1/ldc`) it is inert. */
export const ldcFilterSchema: JsonSchema = {
  ...ldcSchema,
  required: [],
  properties: { ...ldcSchema.properties, table: { ...ldcSchema.properties.table, default: [] } },
}

export interface ZoneTarget {
  readonly name: string
  readonly type: ZoneKind
  readonly city: string | null
  /** This gateway serves the zone: route to the hosts labelled `zone=<name>`. */
  readonly local: boolean
  /** `{ zone: name }`, the subset of a call whose route asks for none. */
  readonly selector: Readonly<Record<string, string>>
  /** Cluster of this zone's gateways per protocol (null: none configured). */
  readonly triple: string | null
  readonly bolt: string | null
  readonly forwarded: Decision
  readonly noGateway: LocalReply
  readonly labels: { readonly local: Readonly<Record<string, string>>, readonly forward: Readonly<Record<string, string>> }
}

export type RefusalReason = 'uid-missing' | 'uid-invalid' | 'no-zone' | 'pin-denied' | 'loop'

export interface LdcConfig {
  /** Service -> kind; services not listed are not LDC-routed. */
  readonly services: ReadonlyMap<string, ZoneKind>
  readonly uidHeader: string | null
  readonly uidBoltKey: string | null
  readonly uidClaim: string | null
  readonly unitInfo: boolean
  readonly maxUid: number
  readonly digits: number
  readonly offset: number
  /** RZone of each shard (null: a gap in the table). */
  readonly byShard: ReadonlyArray<ZoneTarget | null>
  /** String of each shard number (header values without an allocation per call). */
  readonly shardText: readonly string[]
  readonly zones: ReadonlyMap<string, ZoneTarget>
  readonly global: ZoneTarget | null
  readonly czoneByCity: ReadonlyMap<string, ZoneTarget>
  /** City of this gateway (its first local zone with a city): CZone reads without a uid. */
  readonly localCity: string | null
  readonly defaultZone: ZoneTarget | null
  readonly pinHeader: string | null
  readonly pinBoltKey: string | null
  readonly pinAllow: ReadonlySet<string>
  readonly zoneHeader: string
  readonly shardHeader: string
  readonly hopHeader: string
  readonly trustAll: boolean
  readonly trust: ReadonlySet<string>
  /** No caller is trusted with a forwarded zone: the hop marker matters only before forwarding. */
  readonly trustNone: boolean
  readonly stampAlways: boolean
  /** Hop marker value: this gateway's entity. */
  readonly hopValue: string
  readonly replies: Readonly<Record<RefusalReason, LocalReply>>
  readonly refusedLabels: Readonly<Record<RefusalReason, Readonly<Record<string, string>>>>
  readonly routed: FilterCounter
  readonly refused: FilterCounter
}

export function compileLdc (o: LdcOptions, ctx: CompileContext): LdcConfig {
  const fail = (path: string, message: string): never => {
    // The loader checked the section already; this only catches a config compiled by hand.
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}: ${message}`, path)
  }
  const zones = ldcZones(o, fail)
  const local = localZonesOf(o)
  const targets = new Map<string, ZoneTarget>()
  for (const z of zones.values()) {
    targets.set(z.name, Object.freeze({
      name: z.name,
      type: z.type,
      city: z.city ?? null,
      local: local === null || local.has(z.name),
      selector: Object.freeze({ zone: z.name }),
      triple: z.gateway?.triple ?? null,
      bolt: z.gateway?.bolt ?? null,
      forwarded: Object.freeze({ filter: 'ldc', action: 'route' as const, reason: `zone ${z.name} is served by another gateway: forwarded` }),
      noGateway: ctx.localReply('ISTH_ERR_LDC_NO_ZONE', `zone ${z.name} is not served by this gateway and has no gateway cluster for this protocol`),
      labels: Object.freeze({ local: Object.freeze({ zone: z.name, via: 'local' }), forward: Object.freeze({ zone: z.name, via: 'forward' }) }),
    }))
  }
  const digits = o.shard?.digits ?? 2
  const shards = 10 ** digits
  const byShard = new Array<ZoneTarget | null>(shards).fill(null)
  for (const row of o.table) for (let s = row.from; s <= row.to && s < shards; s++) byShard[s] = targets.get(row.zone) ?? null
  const shardText: string[] = []
  for (let s = 0; s < shards; s++) shardText.push(String(s).padStart(digits, '0'))
  const czoneByCity = new Map<string, ZoneTarget>()
  for (const t of targets.values()) if (t.type === 'czone' && t.city !== null && !czoneByCity.has(t.city)) czoneByCity.set(t.city, t)
  let localCity: string | null = null
  if (local !== null) for (const name of local) { const c = targets.get(name)?.city; if (c != null) { localCity = c; break } }
  const services = new Map<string, ZoneKind>(Object.entries(o.services ?? {}))
  const fwd = o.forward ?? { zoneHeader: 'x-isthmus-ldc-zone', shardHeader: 'x-isthmus-ldc-shard', hopHeader: 'x-isthmus-ldc-hop', trust: [] }
  const reasons: RefusalReason[] = ['uid-missing', 'uid-invalid', 'no-zone', 'pin-denied', 'loop']
  return Object.freeze({
    services,
    uidHeader: o.uid.header ?? null,
    uidBoltKey: o.uid.boltKey ?? o.uid.header ?? null,
    uidClaim: o.uid.jwtClaim ?? null,
    unitInfo: o.uid.unitInfo !== false,
    maxUid: o.uid.maxLength ?? 64,
    digits,
    offset: o.shard?.offset ?? 0,
    byShard: Object.freeze(byShard),
    shardText: Object.freeze(shardText),
    zones: targets,
    global: o.globalZone === undefined ? null : targets.get(o.globalZone) ?? null,
    czoneByCity,
    localCity,
    defaultZone: o.defaultZone === undefined ? null : targets.get(o.defaultZone) ?? null,
    pinHeader: o.pin?.header ?? null,
    pinBoltKey: o.pin?.boltKey ?? o.pin?.header ?? null,
    pinAllow: new Set(o.pin?.allow ?? []),
    zoneHeader: fwd.zoneHeader,
    shardHeader: fwd.shardHeader,
    hopHeader: fwd.hopHeader,
    trustAll: fwd.trust.includes('*'),
    trust: new Set(fwd.trust),
    trustNone: fwd.trust.length === 0,
    stampAlways: o.stamp === 'always',
    hopValue: ctx.entity,
    replies: Object.freeze({
      'uid-missing': ctx.localReply('ISTH_ERR_LDC_UID_MISSING', 'the service is routed by unit (rzone) and the call carries no uid'),
      'uid-invalid': ctx.localReply('ISTH_ERR_LDC_UID_INVALID', `the uid must be printable ASCII of at most ${o.uid.maxLength ?? 64} characters, with ${digits} digits ${(o.shard?.offset ?? 0) === 0 ? 'at its end' : `ending ${o.shard?.offset ?? 0} characters before its end`}`),
      'no-zone': ctx.localReply('ISTH_ERR_LDC_NO_ZONE', 'the LDC table has no zone for it'),
      'pin-denied': ctx.localReply('ISTH_ERR_LDC_PIN_DENIED', 'the zone is not pinnable (ldc.pin.allow) or not of the service\'s kind'),
      loop: ctx.localReply('ISTH_ERR_LDC_LOOP', 'its zone is not served here either; refusing to forward it twice'),
    }),
    refusedLabels: Object.freeze(Object.fromEntries(reasons.map(r => [r, Object.freeze({ reason: r })])) as unknown as Record<RefusalReason, Readonly<Record<string, string>>>),
    routed: ctx.counter('routed', 'LDC-routed calls by zone and how (local: to the zone\'s hosts; forward: to its gateway)', ['zone', 'via']),
    refused: ctx.counter('refused', 'calls the LDC filter refused, by reason', ['reason']),
  })
}
