import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FilterFactory } from './api.js'
import { IsthmusError } from '../gateway/errors.js'
import headers from './headers/index.js'
import deny from './deny/index.js'
import auth from './auth/index.js'
import policy from './policy/index.js'

/** Built-in filters by name. The next wave (ldc, stress, auth, rate-limit, mirror, audit) registers here. */
const builtins = new Map<string, FilterFactory>()

export function registerFilter (factory: FilterFactory<never, never> | FilterFactory): void {
  const f = factory as FilterFactory
  if (builtins.has(f.name)) throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `filter "${f.name}" is registered twice`)
  builtins.set(f.name, f)
}

registerFilter(headers)
registerFilter(deny)
registerFilter(auth)
registerFilter(policy)

export function builtinFilterNames (): string[] { return [...builtins.keys()].sort() }

export function getBuiltinFilter (name: string): FilterFactory | undefined { return builtins.get(name) }

/**
 * The factory for a chain entry: a built-in by name, or a user module by path (its default
 * export, or an export named `filter`). Modules are imported once per process (ESM cache):
 * changing a module's code needs a restart; changing its config does not.
 */
export async function resolveFilterFactory (name: string, modulePath: string | undefined, baseDir: string, path: string): Promise<FilterFactory> {
  if (modulePath === undefined) {
    const f = builtins.get(name)
    if (f === undefined) {
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}/name: unknown filter "${name}" (built-ins: ${builtinFilterNames().join(', ')}; set "module" to load your own)`, `${path}/name`)
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
