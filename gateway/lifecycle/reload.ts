/**
 * Config reload (SIGHUP, `POST /v1/reload`): re-read the config file, validate it, and apply it
 * like an admin write: compiled off the hot path and swapped in one step, so calls in flight
 * finish on the old revision and new calls see the new one. Resources pushed through the admin
 * API stay on top of the file (the result is what a restart with this file and the persisted
 * state would build). A file that does not load or compile changes nothing.
 *
 * Sections read only at start (sockets, replication, identity) cannot change this way: a
 * reload that changes one is refused as a whole, naming the first differing path.
 */
import type { Logger } from 'pino'
import type { AdminStore } from '../../admin/store.js'
import { resourceKey } from '../../admin/effective.js'
import { loadConfigFile } from '../config/load.js'
import type { GatewayOptions } from '../config/options.js'
import { IsthmusError } from '../errors.js'
import { checkListenerAddresses, inConfigFile } from './check.js'

/** Top-level sections the running process read at start; changing one needs a restart. */
export const RESTART_ONLY: ReadonlyArray<keyof GatewayOptions> = ['entity', 'trustDomain', 'nodeId', 'listeners', 'redis', 'state', 'drain', 'workers', 'workerLimits', 'metrics']

export interface ReloadResult {
  file: string
  /** False when the file's options equal the running base config. */
  changed: boolean
  /** Snapshot generation now live. */
  generation: number
  /** File changes that have no effect because a resource pushed through the admin API overrides them. */
  shadowed: string[]
}

export interface ReloadDeps {
  file: string
  store: AdminStore
  logger: Logger
  /** Apply the settings that are read live (log level, access log). */
  applyLive (options: Readonly<GatewayOptions>): void
}

export type Reload = () => Promise<ReloadResult>

export function createReload (deps: ReloadDeps): Reload {
  return async () => {
    const log = deps.logger
    try {
      const loaded = loadConfigFile(deps.file)
      checkListenerAddresses(loaded)
      const running = deps.store.baseOptions
      for (const key of RESTART_ONLY) {
        const at = firstDifference(running[key], loaded.options[key], `/${key}`)
        if (at !== null) {
          throw new IsthmusError('ISTH_ERR_CONFIG_RESTART_REQUIRED', `${deps.file}: ${at.path}: ${at.what}; ${key} cannot change while running: restart the gateway`, at.path)
        }
      }
      const shadowed = shadowedChanges(deps.store, running, loaded.options)
      let r: { changed: boolean, generation: number }
      try {
        r = await deps.store.rebase(loaded.options)
      } catch (err) {
        throw inConfigFile(err, deps.file)
      }
      deps.applyLive(loaded.options)
      const result: ReloadResult = { file: deps.file, changed: r.changed, generation: r.generation, shadowed }
      log.info(result, r.changed ? 'config reloaded' : 'config reloaded: no change')
      return result
    } catch (err) {
      // One line, no stack: the file is the user's, the running config stays.
      const e = err instanceof IsthmusError ? err : new IsthmusError('ISTH_ERR_INTERNAL', (err as Error).message)
      log.error({ file: deps.file, code: e.code, path: e.path }, `config reload refused, running config kept: ${e.message}`)
      throw e
    }
  }
}

/** The first path where two JSON values differ, with a short description; null when equal. */
function firstDifference (a: unknown, b: unknown, path: string): { path: string, what: string } | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], `${path}/${k}`)
      if (d !== null) return d
    }
  }
  return { path, what: `changed from ${show(a)} to ${show(b)}` }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function show (v: unknown): string {
  if (v === undefined) return '(unset)'
  const s = JSON.stringify(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** Parts of the file that changed but are overridden by a pushed resource. */
function shadowedChanges (store: AdminStore, before: Readonly<GatewayOptions>, after: Readonly<GatewayOptions>): string[] {
  const out: string[] = []
  const pushed = (key: string): boolean => store.entry(key) !== undefined
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)
  if (pushed('routes') && !same(before.routes, after.routes)) out.push('/routes')
  if (pushed('ldc') && !same(before.ldc, after.ldc)) out.push('/ldc')
  if (pushed('policies') && !same(before.policies, after.policies)) out.push('/policies')
  for (const c of after.clusters) {
    if (pushed(resourceKey('cluster', c.name)) && !same(before.clusters.find(x => x.name === c.name), c)) out.push(`/clusters/${c.name}`)
  }
  for (const f of after.filters) {
    // A pushed filter entry overrides only its config and enabled flag.
    const o = store.entry(resourceKey('filter', f.name))?.value as { config?: unknown, enabled?: unknown } | null | undefined
    if (o == null) continue
    const old = before.filters.find(x => x.name === f.name)
    if ((o.config !== undefined && !same(old?.config, f.config)) || (o.enabled !== undefined && !same(old?.enabled, f.enabled))) out.push(`/filters/${f.name}`)
  }
  return out
}
