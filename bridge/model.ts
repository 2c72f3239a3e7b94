/**
 * What a registry bridge knows about one provider, independent of the registry it came from.
 * A registry reader (bridge/zookeeper/) turns its nodes into Providers; the catalog
 * (catalog.ts) groups them into the admin API's discovery resources.
 */

/** The two protocols the gateway forwards (admin discovery `protocols`). */
export type BridgeProtocol = 'bolt' | 'triple'

export interface Provider {
  /** Interface id (the Bolt service / Triple service name). */
  readonly service: string
  readonly protocol: BridgeProtocol
  readonly address: string
  readonly port: number
  /** Application name; undefined when the provider carries none (interface-level push). */
  readonly app: string | undefined
  /** Service version ('' when none). */
  readonly version: string
  /** Service group: SOFARPC's uniqueId ('' when none). */
  readonly group: string
  readonly zone: string | undefined
  /** Configured weight, 1..1000. */
  readonly weight: number
  /** SOFARPC warm-up: `warmup.weight` until `warmup.until` (epoch ms), then `weight`. */
  readonly warmup: { readonly weight: number, readonly until: number } | undefined
  /** Host labels from the label mapping (never a `service:` key). */
  readonly labels: Readonly<Record<string, string>>
  /** Who wrote it: `language` of the provider URL (java, nodejs, ...), for the status page. */
  readonly language: string
}

/** Weight the load balancer should use now (SOFARPC: the warm-up weight until its end). */
export function effectiveWeight (p: Provider, now: number): number {
  return p.warmup !== undefined && now < p.warmup.until ? p.warmup.weight : p.weight
}

/** Instance id in the admin model: one per address, port and protocol. */
export function instanceId (p: { address: string, port: number }, protocol: BridgeProtocol): string {
  return `${p.address}|${p.port}|${protocol}`
}
