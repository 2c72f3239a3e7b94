/** `grpc-timeout` header (value + unit H M S m u n) to milliseconds; NaN when malformed. */
export function parseGrpcTimeout (v: string): number {
  const n = v.length
  if (n < 2 || n > 9) return NaN
  const value = Number(v.slice(0, n - 1))
  if (!Number.isInteger(value) || value < 0) return NaN
  switch (v.charCodeAt(n - 1)) {
    case 72: return value * 3600000 // H
    case 77: return value * 60000 // M
    case 83: return value * 1000 // S
    case 109: return value // m
    case 117: return value / 1000 // u
    case 110: return value / 1000000 // n
    default: return NaN
  }
}

/** Milliseconds to a `grpc-timeout` value (at most 8 digits, as the spec requires). */
export function formatGrpcTimeout (ms: number): string {
  const m = Math.max(1, Math.ceil(ms))
  if (m < 1e8) return `${m}m`
  const s = Math.ceil(m / 1000)
  if (s < 1e8) return `${s}S`
  return `${Math.min(99999999, Math.ceil(s / 60))}M`
}
