import { resolve } from 'node:path'
import type { FilterFactory } from './filter-api.js'
import { IsthmusError } from '../errors.js'
import { describeThrown, runIn, userModule, type UserModule } from './user-module.js'

/** How long a user module may take to load (its top-level code, awaits included). */
export const MODULE_LOAD_TIMEOUT_MS = 10000

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

const moduleOfFactory = new WeakMap<FilterFactory, UserModule>()

/** The user module a factory was loaded from (undefined: a registered filter). */
export function userModuleOf (f: FilterFactory): UserModule | undefined { return moduleOfFactory.get(f) }

/**
 * The factory for a chain entry: a registered filter by name, or a user module by path (its
 * default export, or an export named `filter`). Modules are imported once per process (ESM
 * cache): changing a module's code needs a restart; changing its config does not. The import
 * runs in the module's scope (user-module.ts): whatever its top-level code starts stays
 * attributed to it. A module that throws at import, whatever it throws, is a config error
 * naming the entry and the file.
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
  const um = userModule(file)
  um.names.add(name)
  let mod: Record<string, unknown>
  try {
    mod = await withTimeout(runIn(um, importModule, um.url), MODULE_LOAD_TIMEOUT_MS)
  } catch (err) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}/module: filter "${name}": cannot load ${file}: ${describeThrown(err)}`, `${path}/module`)
  }
  const f = (mod.default ?? mod.filter) as Partial<FilterFactory> | undefined
  if (f === undefined || f === null || typeof f !== 'object' || typeof f.create !== 'function' || typeof f.compile !== 'function' || f.schema === null || typeof f.schema !== 'object') {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}/module: filter "${name}": ${file} must export a filter factory { name, schema, compile, create } as default or "filter"`, `${path}/module`)
  }
  moduleOfFactory.set(f as FilterFactory, um)
  return f as FilterFactory
}

function importModule (url: string): Promise<Record<string, unknown>> {
  return import(url) as Promise<Record<string, unknown>>
}

/** `p`, or a rejection after `ms` (a module whose top-level await never settles). */
function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`did not finish loading within ${ms} ms`)), ms) })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}
