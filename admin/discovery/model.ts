/**
 * The application-level discovery model (DESIGN.md "Data model for discovery"): an app has
 * instances and exports services. Interface-level pushes (one service's providers) fold into
 * the same model, so both forms assemble into the same clusters and routes.
 */

export type DiscoveryProtocol = 'triple' | 'bolt'

export interface InstanceOptions {
  address: string
  port: number
  /** Protocols the instance serves; default ['triple']. */
  protocols?: DiscoveryProtocol[]
  /** Per-protocol port when it differs from `port` (SOFA: Bolt 12200, Triple 50051). */
  ports?: Partial<Record<DiscoveryProtocol, number>>
  zone?: string
  labels?: Record<string, string>
  weight?: number
  /** Names of the app's services this instance exports; default all of them. */
  services?: string[]
}

export interface ExportedServiceOptions {
  name: string
  version?: string
  group?: string
}

/** Body of PUT /v1/discovery/apps/{app} (minus `revision`). */
export interface AppPushOptions {
  instances: InstanceOptions[]
  services: ExportedServiceOptions[]
}

/** Body of PUT /v1/discovery/services/{service} (minus `revision`). */
export interface ServicePushOptions {
  /** The application the providers belong to (their cluster). */
  app: string
  version?: string
  group?: string
  providers: InstanceOptions[]
}

/** Label key a host carries for each service (variant) it exports. Reserved prefix. */
export const SERVICE_LABEL_PREFIX = 'service:'

/** `name`, `name:version` or `name:version:group`: one exported service variant. */
export function serviceKey (s: { name: string, version?: string, group?: string }): string {
  if (s.group !== undefined && s.group !== '') return `${s.name}:${s.version ?? ''}:${s.group}`
  if (s.version !== undefined && s.version !== '') return `${s.name}:${s.version}`
  return s.name
}

/** Cluster name of an app for one protocol. */
export function appClusterName (app: string, protocol: DiscoveryProtocol): string {
  return `${app}:${protocol}`
}
