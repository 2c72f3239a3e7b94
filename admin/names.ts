/**
 * Names the admin API takes from a path or a body: one rule per kind, checked before anything
 * uses the name (a resource key, a cluster name, a label, a log line). They keep `/`, control
 * characters, NUL and newlines out of every key, file and log the name reaches.
 */
import { IsthmusError } from '../gateway/errors.js'

/** App names become cluster names (`<app>:<protocol>`), so no `:`. */
export const APP_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,118}$'
/** Cluster names, as the config schema has them (`<app>:<protocol>` for discovered ones). */
export const CLUSTER_NAME = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'
/** Service (interface) names: `com.acme.Foo`, `pkg.v1.Greeter`, `Outer$Inner`. No `:`
 *  (it separates name, version and group in a service key) and no `/`. */
export const SERVICE_NAME = '^[A-Za-z0-9_$][A-Za-z0-9_$.-]{0,254}$'
/** Names of chain entries addressed by `/v1/filters/{name}`. */
export const FILTER_NAME = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'
/** Free-form short strings (version, group, zone): printable, no control characters. */
export const SHORT_TEXT = '^[^\\u0000-\\u001f\\u007f]{0,128}$'

export type NameKind = 'app' | 'cluster' | 'service' | 'filter'

const RULES: Record<NameKind, RegExp> = {
  app: new RegExp(APP_NAME),
  cluster: new RegExp(CLUSTER_NAME),
  service: new RegExp(SERVICE_NAME),
  filter: new RegExp(FILTER_NAME),
}
const SOURCES: Record<NameKind, string> = { app: APP_NAME, cluster: CLUSTER_NAME, service: SERVICE_NAME, filter: FILTER_NAME }

/** `name` when it follows the rule of its kind; else a 400 that quotes it safely. */
export function checkName (kind: NameKind, name: string): string {
  if (RULES[kind].test(name)) return name
  throw new IsthmusError('ISTH_ERR_ADMIN_BAD_REQUEST', `${kind} name ${quote(name)} must match ${SOURCES[kind]}`, '/')
}

/** JSON-quoted (escapes NUL, newlines, quotes) and cut to 80 characters: safe in a message. */
export function quote (s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s)
}
