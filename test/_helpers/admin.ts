/**
 * Admin store + admin server wired to the real config compiler, without listeners: what
 * the admin tests need to drive the /v1 API and look at the snapshots it produces.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { startAdminServer } from '../../admin/server.js'
import { AdminStore, type AdminStoreOpenOptions } from '../../admin/store.js'
import { HostRegistry } from '../../gateway/cluster/host.js'
import { compileSnapshot, droppedHosts } from '../../gateway/config/compile.js'
import { validateOptions } from '../../gateway/config/load.js'
import type { GatewayOptions } from '../../gateway/config/options.js'
import type { Snapshot } from '../../gateway/config/snapshot.js'

export const TOKEN = 'test-admin-token'
export const silent = pino({ level: 'silent' })

/** A validated config: one Triple listener, the given extra keys. */
export function baseOptions (extra: Record<string, unknown> = {}): GatewayOptions {
  return validateOptions({
    entity: 'acme',
    listeners: { triple: { port: 0 }, admin: { token: TOKEN, maxBodyBytes: 64 * 1024 } },
    ...structuredClone(extra),
  })
}

export interface StoreHarness {
  store: AdminStore
  applied: Snapshot[]
  dropped: string[][]
  hosts: HostRegistry
}

export async function openStore (base: GatewayOptions, more: Partial<AdminStoreOpenOptions> = {}): Promise<StoreHarness> {
  const hosts = new HostRegistry()
  const applied: Snapshot[] = []
  const dropped: string[][] = []
  const deps = { hosts, logger: silent, baseDir: process.cwd(), nodeId: more.nodeId ?? 'node-a' }
  // Wired as gateway/lifecycle/start.ts wires it: the store gets no host registry; the swap
  // releases the hosts the new snapshot dropped.
  let live: Snapshot | undefined
  const store: AdminStore = await AdminStore.open({
    baseOptions: base,
    logger: silent,
    nodeId: deps.nodeId,
    compile: (o, rev, previous) => compileSnapshot(o, rev, deps, previous),
    apply: s => {
      const old = live ?? store.snapshot
      live = s
      applied.push(s)
      hosts.forget(droppedHosts(old, s))
    },
    onHostsDropped: ids => { dropped.push(ids) },
    ...more,
  })
  live = store.snapshot
  return { store, applied, dropped, hosts }
}

export interface AdminHarness extends StoreHarness {
  url: string
  call (method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number, body: any }>
  close (): Promise<void>
}

export async function startAdmin (base: GatewayOptions, more: Partial<AdminStoreOpenOptions> = {}): Promise<AdminHarness> {
  const h = await openStore(base, more)
  const server = await startAdminServer({
    logger: silent,
    options: base.listeners.admin,
    tls: null,
    isReady: () => true,
    listeners: () => ({}),
    drain: async () => {},
    store: h.store,
  })
  const url = `http://127.0.0.1:${server.address.port}`
  return {
    ...h,
    url,
    async call (method, path, body, token = TOKEN) {
      const headers: Record<string, string> = {}
      if (token !== null) headers.authorization = `Bearer ${token}`
      let payload: string | undefined
      if (body !== undefined) { headers['content-type'] = 'application/json'; payload = typeof body === 'string' ? body : JSON.stringify(body) }
      const r = await fetch(url + path, { method, headers, body: payload })
      const text = await r.text()
      return { status: r.status, body: text === '' ? undefined : JSON.parse(text) }
    },
    async close () { await server.close(); await h.store.close() },
  }
}

export function tempDir (prefix = 'isthmus-admin-'): { dir: string, file: (n: string) => string, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, file: n => join(dir, n), remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}
