/** One app's discovery push for the many-apps benches: 4 instances (Triple + Bolt) × 5 services; `v` moves one instance's address. */
export const appBody = (a: number, v: number): { instances: unknown[], services: Array<{ name: string }> } => ({
  instances: Array.from({ length: 4 }, (_, i) => ({ address: `10.${(a >> 8) & 255}.${a & 255}.${i + (i === 0 ? v % 200 : 0)}`, port: 50051, protocols: ['triple', 'bolt'], ports: { bolt: 12200 } })),
  services: Array.from({ length: 5 }, (_, k) => ({ name: `com.acme.app${a}.Service${k}` })),
})
