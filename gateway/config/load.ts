import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { IsthmusError } from '../errors.js'
import { compileValidator } from './validate.js'
import { gatewaySchema } from './schema.js'
import { checkLdc } from './ldc.js'
import type { GatewayOptions } from './options.js'

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
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const e = doc.errors[0]
    const where = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : ''
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${source}: YAML syntax error${where}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, '/')
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 })
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
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new IsthmusError('ISTH_ERR_CONFIG_READ', `${file}: ${(err as Error).message}`)
  }
  return { options: parseConfig(text, file), baseDir: dirname(resolve(file)), source: file }
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
  checkLdc(o, fail)
  const l = o.listeners
  if (l.triple === undefined && l.bolt === undefined) fail('/listeners', 'needs a triple or a bolt listener')
  const a = l.admin
  const tokenSources = [a.token, a.tokenFile, a.tokenEnv].filter(v => v !== undefined).length
  if (tokenSources > 1) fail('/listeners/admin', 'set only one of token, tokenFile, tokenEnv')
}

function fail (path: string, message: string): never {
  throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}: ${message}`, path)
}
