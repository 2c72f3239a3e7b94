/** The governance chain both benches run beside the empty chain (README "Benchmarks"). */

/**
 * The governance chain: LDC routing for the bench service (every shard in the bench host's
 * zone), stress detection (no marks in the bench traffic: the normal path), and rate-limit
 * with a rule that never binds (a QPS bucket and a concurrency slot per call).
 */
export function governanceFilters (service: string, adaptive: boolean): Record<string, unknown> {
  return {
    filters: [
      { name: 'ldc' },
      { name: 'stress' },
      {
        name: 'rate-limit',
        config: {
          rules: [{ name: 'bench', match: { service }, qps: { rate: 1e9 }, concurrency: 1e6 }],
          ...(adaptive ? { adaptive: { maxEventLoopDelayMs: 60000 } } : {}),
        },
      },
    ],
    // defaultZone: the bench's correctness checks (grpc-js calls) send no uid.
    ldc: { uid: { header: 'x-ldc-uid', boltKey: 'x-ldc-uid' }, table: [{ from: 0, to: 99, zone: 'RZ00' }], services: { [service]: 'rzone' }, defaultZone: 'RZ00' },
  }
}
