/** Helpers for the outlier / retry tests: admin reads of a cluster's live state, metrics. */
import type { ExecutionContext } from 'ava'
import * as grpc from '@grpc/grpc-js'
import { EchoService } from '../_peers/grpc-echo.js'
import { metricsText } from './http.js'

export interface HostStateView {
  id: string, healthy: boolean, ejected: boolean, ejections: number, ejectLevel: number,
  lastEjectMs?: number, lastEjectReason?: string, consecutiveFailures: number, consecutiveStatusFailures: number, active: number
}
export interface ClusterStateView { inFlight: number, pending: number, retriesInFlight: number, connections: number, ejected: number, hosts: HostStateView[] }

export async function clusterState (adminPort: number, token: string, name: string): Promise<ClusterStateView> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/v1/clusters/${name}`, { headers: { authorization: `Bearer ${token}` } })
  const body = await res.json() as { state: ClusterStateView }
  if (res.status !== 200) throw new Error(`GET /v1/clusters/${name}: ${res.status} ${JSON.stringify(body)}`)
  return body.state
}

export function hostOf (s: ClusterStateView, port: number): HostStateView {
  const h = s.hosts.find(x => x.id === `127.0.0.1:${port}`)
  if (h === undefined) throw new Error(`no host 127.0.0.1:${port} in ${JSON.stringify(s)}`)
  return h
}

export async function metrics (adminPort: number): Promise<string> {
  return await metricsText(adminPort)
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function metricSum (text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** A grpc-js Echo server whose every unary call ends with `code` in its trailers. */
export async function failingGrpcServer (t: ExecutionContext, code: grpc.status): Promise<{ port: number, calls: () => number }> {
  const server = new grpc.Server()
  let calls = 0
  server.addService(EchoService.service, {
    unary: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => { calls++; cb(Object.assign(new Error('down'), { code, details: 'host says no' }) as grpc.ServiceError) },
    serverStream: () => {}, clientStream: () => {}, bidi: () => {},
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => err ? reject(err) : resolve(p)))
  t.teardown(() => new Promise<void>(resolve => server.tryShutdown(() => resolve())))
  return { port, calls: () => calls }
}
