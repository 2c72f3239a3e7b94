/**
 * `ldc`: unit (LDC) routing at afterRoute. For a service marked rzone/gzone/czone it finds the
 * call's zone (the uid's shard -> RZone, the global zone, or the city copy; a pin when
 * allowed; a trusted forwarded zone), writes `zone`, `uid`, `shard` on the Call, and either
 * selects the route cluster's hosts labelled with that zone, or, for a zone this gateway does
 * not serve, sends the call to that zone's gateway cluster with a hop marker. A call that
 * arrives with the hop marker is never forwarded again. Sync; allocates nothing on the common
 * path beyond the uid string it reads.
 */
import { CONTINUE, type Call, type Filter, type LocalReply, type Verdict, type ZoneKind } from '../../gateway/index.js'
import type { LdcConfig, RefusalReason, ZoneTarget } from './config.js'
import { readUnitInfo, shardOf, type UnitInfo } from './uid.js'

export class LdcFilter implements Filter {
  readonly #cfg: LdcConfig
  /** Route subset object -> zone -> merged selector (routes keep one subset object per revision). */
  readonly #merged = new WeakMap<object, Map<string, Readonly<Record<string, string>>>>()

  constructor (cfg: LdcConfig) { this.#cfg = cfg }

  onRequest (call: Call): Verdict {
    const c = this.#cfg
    const kind = c.services.get(call.service)
    if (kind === undefined) return CONTINUE
    const h = call.headers
    // The hop marker is read only when it can matter: a trusted peer's forwarded zone, or
    // below, before forwarding (a local call never needs it; a Bolt header read is a walk).
    let hop = c.trustNone ? undefined : h.get(c.hopHeader)
    let zone: ZoneTarget | null = null
    let shard = -1
    if (hop !== undefined && this.#trusted(call)) {
      // A gateway forwarded this call and is trusted with its zone (it may hold a uid source,
      // such as a verified token, that this gateway never sees).
      const z = h.get(c.zoneHeader)
      if (z !== undefined) zone = c.zones.get(z) ?? null
      const s = h.get(c.shardHeader)
      if (s !== undefined) shard = shardOf(s, c.digits, 0, c.digits)
    }
    if (zone === null) {
      let info: UnitInfo | null = null
      let uid = this.#uidOf(call)
      if (uid === undefined && c.unitInfo && call.protocol === 'triple') {
        info = readUnitInfo(h.get('tri-unit-info'))
        if (info !== null) uid = info.userid
      }
      if (uid !== undefined) {
        shard = shardOf(uid, c.digits, c.offset, c.maxUid)
        call.uid = uid
      }
      const pin = call.protocol === 'triple' ? (c.pinHeader === null ? undefined : h.get(c.pinHeader)) : (c.pinBoltKey === null ? undefined : h.get(c.pinBoltKey))
      if (pin !== undefined) {
        // An explicit pin that the table does not allow is refused, not silently rerouted.
        const p = c.pinAllow.has(pin) ? c.zones.get(pin) : undefined
        if (p === undefined || p.type !== kind) return this.#refuse(call, 'pin-denied')
        zone = p
      } else if (c.unitInfo && call.protocol === 'triple' && c.pinAllow.size > 0) {
        // tri-unit-info's zone pins only when allowed (callers send their own zone there too).
        if (info === null) info = readUnitInfo(h.get('tri-unit-info'))
        const p = info?.zone === undefined || !c.pinAllow.has(info.zone) ? undefined : c.zones.get(info.zone)
        if (p !== undefined && p.type === kind) zone = p
      }
      if (zone === null) {
        const r = this.#zoneFor(kind, uid, shard)
        if (typeof r === 'string') return this.#refuse(call, r)
        zone = r
      }
    }
    call.zone = zone.name
    call.shard = shard
    if (zone.local) {
      const sub = call.subset
      call.subset = sub === null ? zone.selector : this.#merge(sub, zone)
      if (c.stampAlways) this.#stamp(call, zone, shard)
      c.routed.inc(zone.labels.local)
      return CONTINUE
    }
    // Not served here: to the zone's gateway, once.
    if (c.trustNone) hop = h.get(c.hopHeader)
    if (hop !== undefined) return this.#refuse(call, 'loop')
    const cluster = call.protocol === 'triple' ? zone.triple : zone.bolt
    if (cluster === null || !call.reroute(cluster)) return this.#reply(call, zone.noGateway, 'no-zone')
    call.subset = null
    h.set(c.hopHeader, c.hopValue)
    this.#stamp(call, zone, shard)
    call.decide(zone.forwarded)
    c.routed.inc(zone.labels.forward)
    return CONTINUE
  }

  /** The uid from the configured sources, in order; undefined when none carries one. */
  #uidOf (call: Call): string | undefined {
    const c = this.#cfg
    const key = call.protocol === 'triple' ? c.uidHeader : c.uidBoltKey
    if (key !== null) {
      const v = call.headers.get(key)
      if (v !== undefined && v !== '') return v
    }
    if (c.uidClaim !== null) {
      const v = call.identity?.claims?.[c.uidClaim]
      if (typeof v === 'string' && v !== '') return v
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v)
    }
    return undefined
  }

  /** The zone for a call of `kind`, or why there is none. */
  #zoneFor (kind: ZoneKind, uid: string | undefined, shard: number): ZoneTarget | RefusalReason {
    const c = this.#cfg
    if (kind === 'gzone') return c.global ?? 'no-zone'
    if (kind === 'czone') {
      // The city copy of the uid's home city, else of this gateway's city.
      const home = shard >= 0 ? c.byShard[shard] : null
      const city = home?.city ?? c.localCity
      return (city === null ? undefined : c.czoneByCity.get(city)) ?? 'no-zone'
    }
    if (uid === undefined) return c.defaultZone ?? 'uid-missing'
    if (shard < 0) return c.defaultZone ?? 'uid-invalid'
    return c.byShard[shard] ?? c.defaultZone ?? 'no-zone'
  }

  #trusted (call: Call): boolean {
    const c = this.#cfg
    if (c.trustAll) return true
    const e = call.caller?.entity
    return e !== undefined && c.trust.has(e)
  }

  #stamp (call: Call, zone: ZoneTarget, shard: number): void {
    const c = this.#cfg
    call.headers.set(c.zoneHeader, zone.name)
    if (shard >= 0) call.headers.set(c.shardHeader, c.shardText[shard])
  }

  #merge (sub: Readonly<Record<string, string>>, zone: ZoneTarget): Readonly<Record<string, string>> {
    let byZone = this.#merged.get(sub)
    if (byZone === undefined) { byZone = new Map(); this.#merged.set(sub, byZone) }
    let m = byZone.get(zone.name)
    if (m === undefined) { m = Object.freeze({ ...sub, zone: zone.name }); byZone.set(zone.name, m) }
    return m
  }

  #refuse (call: Call, reason: RefusalReason): LocalReply {
    return this.#reply(call, this.#cfg.replies[reason], reason)
  }

  #reply (call: Call, reply: LocalReply, reason: RefusalReason): LocalReply {
    this.#cfg.refused.inc(this.#cfg.refusedLabels[reason])
    return reply
  }
}
