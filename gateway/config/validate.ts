import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { IsthmusError } from '../errors.js'
import type { JsonSchema } from '../chain/filter-api.js'

// ajv-formats ships CJS with a default export; under NodeNext it arrives as the namespace.
type AddFormats = (a: Ajv) => Ajv
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false, coerceTypes: false })
addFormats(ajv)

export type Validator<T> = (value: unknown, basePath?: string) => T

/** One-line description of the first ajv error, naming the JSON pointer. */
export function describeAjvError (err: ErrorObject, basePath = ''): { path: string, message: string } {
  let path = basePath + err.instancePath
  let message = err.message ?? 'is invalid'
  if (err.keyword === 'additionalProperties') {
    const extra = (err.params as { additionalProperty: string }).additionalProperty
    path = `${path}/${extra}`
    message = 'is not a known key'
  } else if (err.keyword === 'required') {
    path = `${path}/${(err.params as { missingProperty: string }).missingProperty}`
    message = 'is required'
  } else if (err.keyword === 'enum') {
    message = `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map(v => JSON.stringify(v)).join(', ')}`
  }
  return { path: path === '' ? '/' : path, message }
}

/**
 * Compile a schema once; the returned function fills defaults in place and throws an
 * ISTH_ERR_CONFIG_INVALID error naming the JSON path of the first problem.
 */
export function compileValidator<T> (schema: JsonSchema): Validator<T> {
  const fn: ValidateFunction = ajv.compile(schema as object)
  return (value: unknown, basePath = ''): T => {
    if (fn(value)) return value as T
    const first = pickError(fn.errors ?? [])
    const { path, message } = describeAjvError(first, basePath)
    throw new IsthmusError('ISTH_ERR_CONFIG_INVALID', `${path}: ${message}`, path)
  }
}

// oneOf/anyOf failures report every branch's error. The branch the value was meant for is
// the one that got past `type`: prefer the deepest error, and at one depth anything over a
// `type` mismatch ({ prefx: x } against "string | {exact|prefix|regex}" names the unknown key,
// not "must be string").
function pickError (errors: ErrorObject[]): ErrorObject {
  let best: ErrorObject | undefined
  let bestRank = -1
  for (const e of errors) {
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf') continue
    const rank = e.instancePath.split('/').length * 2 + (e.keyword === 'type' ? 0 : 1)
    if (rank > bestRank) { best = e; bestRank = rank }
  }
  return best ?? errors[0]
}
