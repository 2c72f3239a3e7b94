import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FilterFactory } from './filter-api.js'
import { IsthmusError } from '../errors.js'

/**
 * Filters by name. The core knows none of them: the composition root (the `isthmus`
 * command, or an embedding program) registers the built-ins from `filters/` and any others
 * before the first config compiles. User modules named by path in a config load on demand.
 */
const registered = new Map<string, FilterFactory>()

/** Register a filter factory by its name. The same factory twice is a no-op; another factory with a taken name is an error. */
export function registerFilter (factory: FilterFactory<never, never> | FilterFactory): void {
  const f = factory as FilterFactory
  const had = registered.get(f.name)
  if (had === f) return
  if (had !== undefined) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `filter "${f.name}" is registered twice`)
  registered.set(f.name, f)
}

export function registeredFilterNames (): string[] { return [...registered.keys()].sort() }

export function getRegisteredFilter (name: string): FilterFactory | undefined { return registered.get(name) }

/**
 * The factory for a chain entry: a registered filter by name, or a user module by path (its
 * default export, or an export named `filter`). Modules are imported once per process (ESM
 * cache): changing a module's code needs a restart; changing its config does not.
 */
export async function resolveFilterFactory (name: string, modulePath: string | undefined, baseDir: string, path: string): Promise<FilterFactory> {
  if (modulePath === undefined) {
    const f = registered.get(name)
    if (f === undefined) {
      const known = registeredFilterNames()
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}/name: unknown filter "${name}" (${known.length > 0 ? `registered: ${known.join(', ')}` : 'none registered'}; set "module" to load your own)`, `${path}/name`)
    }
    return f
  }
  const file = resolve(baseDir, modulePath)
  let mod: Record<string, unknown>
  try {
    mod = await import(pathToFileURL(file).href) as Record<string, unknown>
  } catch (err) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}/module: cannot load ${file}: ${(err as Error).message.split('\n')[0]}`, `${path}/module`)
  }
  const f = (mod.default ?? mod.filter) as Partial<FilterFactory> | undefined
  if (f === undefined || typeof f !== 'object' || typeof f.create !== 'function' || typeof f.compile !== 'function' || typeof f.schema !== 'object') {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}/module: ${file} must export a filter factory { name, schema, compile, create } as default or "filter"`, `${path}/module`)
  }
  return f as FilterFactory
}
