/**
 * Canonical JSON: object keys sorted (UTF-16 code unit order, as Array#sort), no whitespace,
 * strings and numbers as JSON.stringify writes them, `undefined` members left out. The hash
 * chain and checkpoint signatures are computed over this form, so a trail verifies whatever
 * whitespace or key order a copy of it uses. The writer builds the same bytes by hand
 * (record.ts, envelope.ts); test/filters/audit/record.test.ts checks the two agree.
 */
export function canonical (value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value)
    if (s === undefined) throw new TypeError(`not JSON: ${typeof value}`)
    return s
  }
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonical(value[i] === undefined ? null : value[i])
    return out + ']'
  }
  const o = value as Record<string, unknown>
  const keys = Object.keys(o).sort()
  let out = '{'
  let first = true
  for (const k of keys) {
    const v = o[k]
    if (v === undefined) continue
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonical(v)
    first = false
  }
  return out + '}'
}
