import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { IsthmusError } from '../errors.js'
import { compileValidator } from './validate.js'
import { gatewaySchema } from './schema.js'
import type { GatewayOptions } from './options.js'
import { checkValueBounds, CONFIG_BOUNDS, MAX_CONFIG_BYTES } from './value-bounds.js'

/** Aliases a config may resolve, counted by the yaml library as nodes copied per alias use:
 *  a small YAML with nested aliases (a "billion laughs" bomb) is refused, not expanded. */
const MAX_ALIAS_COUNT = 100

const validateGateway = compileValidator<GatewayOptions>(gatewaySchema)

export interface LoadedConfig {
  options: GatewayOptions
  /** Directory relative paths in the config resolve against. */
  baseDir: string
  /** Where it came from, for logs. */
  source: string
}

/** Validate a plain object as a gateway config (fills defaults in place). */
export function validateOptions (value: unknown): GatewayOptions {
  const options = validateGateway(value)
  checkSemantics(options)
  return options
}

/** YAML text -> validated options with defaults. Throws a one-line IsthmusError. */
export function parseConfig (text: string, source = '<inline>'): GatewayOptions {
  if (text.length > MAX_CONFIG_BYTES) throw tooLarge(source, `${text.length} characters`)
  let value: unknown
  try {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
    if (doc.errors.length > 0) {
      const e = doc.errors[0]
      const where = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : ''
      throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${source}: YAML syntax error${where}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, '/')
    }
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    if (err instanceof IsthmusError) throw err
    // The yaml library refuses alias bombs (ReferenceError) and overly deep documents
    // (RangeError) by throwing: each is the document's fault, said in one line.
    const why = err instanceof ReferenceError && /alias/i.test(err.message)
      ? `YAML aliases expand too much (alias limit ${MAX_ALIAS_COUNT}; a nested-alias "billion laughs" document?)`
      : err instanceof RangeError ? 'YAML document nests too deeply' : `YAML could not be read: ${err instanceof Error ? err.message : String(err)}`
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${source}: ${why}`, '/')
  }
  try {
    checkValueBounds(value, CONFIG_BOUNDS, 'the config')
  } catch (err) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${source}: ${(err as IsthmusError).detail}`, '/')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${source}: /: must be a mapping (object)`, '/')
  }
  try {
    return validateOptions(value)
  } catch (err) {
    if (err instanceof IsthmusError) throw new IsthmusError(err.code, `${source}: ${err.detail}`, err.path)
    throw err
  }
}

export function loadConfigFile (file: string): LoadedConfig {
  return { options: parseConfig(readConfigText(file), file), baseDir: dirname(resolve(file)), source: file }
}

/**
 * The file's text, refusing more than MAX_CONFIG_BYTES before parsing anything: checked on
 * the size, then on the bytes actually read (a FIFO, /dev/zero or a growing file has no
 * honest size).
 */
export function readConfigText (file: string): string {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (err) {
    throw new IsthmusError('ISTH_ERR_CONFIG_READ', `${file}: ${(err as Error).message}`)
  }
  try {
    const st = fstatSync(fd)
    if (st.isDirectory()) throw new IsthmusError('ISTH_ERR_CONFIG_READ', `${file}: is a directory`)
    if (st.size > MAX_CONFIG_BYTES) throw tooLarge(file, `${st.size} bytes`)
    const buf = Buffer.allocUnsafe(MAX_CONFIG_BYTES + 1)
    let n = 0
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null)
      if (r === 0) break
      n += r
      if (n > MAX_CONFIG_BYTES) throw tooLarge(file, `more than ${MAX_CONFIG_BYTES} bytes`)
    }
    return buf.toString('utf8', 0, n)
  } catch (err) {
    if (err instanceof IsthmusError) throw err
    throw new IsthmusError('ISTH_ERR_CONFIG_READ', `${file}: ${(err as Error).message}`)
  } finally {
    closeSync(fd)
  }
}

function tooLarge (source: string, size: string): IsthmusError {
  return new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${source}: ${size}: a config file may hold at most ${MAX_CONFIG_BYTES / 1048576} MiB (${MAX_CONFIG_BYTES} bytes)`, '/')
}

/** Rules a JSON schema cannot say: name uniqueness, references between sections. */
export function checkSemantics (o: GatewayOptions): void {
  const clusterNames = new Set<string>()
  o.clusters.forEach((c, i) => {
    if (clusterNames.has(c.name)) fail(`/clusters/${i}/name`, `duplicate cluster name "${c.name}"`)
    clusterNames.add(c.name)
    if (c.lb.policy === 'consistent-hash' && c.lb.hashHeader === undefined) {
      fail(`/clusters/${i}/lb/hashHeader`, 'is required with policy consistent-hash')
    }
    if (c.subsetFallback.policy === 'default' && c.subsetFallback.defaultSubset === undefined) {
      fail(`/clusters/${i}/subsetFallback/defaultSubset`, 'is required with policy default')
    }
    if (c.upstream.heartbeat.maxMs < c.upstream.heartbeat.baseMs) {
      fail(`/clusters/${i}/upstream/heartbeat/maxMs`, 'must be >= baseMs')
    }
  })
  const routeNames = new Set<string>()
  o.routes.forEach((r, i) => {
    if (routeNames.has(r.name)) fail(`/routes/${i}/name`, `duplicate route name "${r.name}"`)
    routeNames.add(r.name)
    if (!clusterNames.has(r.cluster)) fail(`/routes/${i}/cluster`, `unknown cluster "${r.cluster}"`)
  })
  if (o.ldc !== undefined) {
    o.ldc.table.forEach((row, i) => {
      if (row.to < row.from) fail(`/ldc/table/${i}/to`, 'must be >= from')
    })
  }
  const l = o.listeners
  if (l.triple === undefined && l.bolt === undefined) fail('/listeners', 'needs a triple or a bolt listener')
  const a = l.admin
  const tokenSources = [a.token, a.tokenFile, a.tokenEnv].filter(v => v !== undefined).length
  if (tokenSources > 1) fail('/listeners/admin', 'set only one of token, tokenFile, tokenEnv')
}

function fail (path: string, message: string): never {
  throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}: ${message}`, path)
}
