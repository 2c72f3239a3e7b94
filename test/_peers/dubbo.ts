/**
 * A real Triple server and client from @apachedubbo/dubbo(-node) 3.0 alpha. The service type
 * is built by hand with @bufbuild/protobuf (no codegen step in tests).
 */
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { MethodKind, proto3, type ServiceType } from '@bufbuild/protobuf'
import { createPromiseClient, type DubboRouter } from '@apachedubbo/dubbo'
import { createDubboTransport, createGrpcTransport, dubboNodeAdapter } from '@apachedubbo/dubbo-node'

export const SayRequest = proto3.makeMessageType('isthmus.test.SayRequest', [
  { no: 1, name: 'sentence', kind: 'scalar', T: 9 /* string */ },
])
export const SayResponse = proto3.makeMessageType('isthmus.test.SayResponse', [
  { no: 1, name: 'sentence', kind: 'scalar', T: 9 },
])

export const ExampleService = {
  typeName: 'isthmus.test.ExampleService',
  methods: {
    say: { name: 'Say', I: SayRequest, O: SayResponse, kind: MethodKind.Unary },
  },
} as const
// The esm and cjs copies of @bufbuild/protobuf disagree on types; the runtime object is right.
const serviceType = ExampleService as unknown as Parameters<DubboRouter['service']>[0]

export interface DubboServer { readonly port: number, close (): Promise<void> }

/** An h2c Triple server registering ExampleService under one version and group. */
export async function startDubboServer (name: string, serviceVersion: string, serviceGroup: string): Promise<DubboServer> {
  const handler = dubboNodeAdapter({
    routes: (router: DubboRouter) => {
      router.service(serviceType, {
        say: (req: { sentence: string }) => ({ sentence: `${name} says: ${req.sentence}` }),
      } as never, { serviceVersion, serviceGroup })
    },
  })
  const server = http2.createServer(handler)
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()) }),
  }
}

export interface SayClient { say (req: { sentence: string }): Promise<{ sentence: string }> }

export function dubboClient (port: number, httpVersion: '1.1' | '2', serviceVersion: string, serviceGroup: string, mode: 'triple' | 'grpc' = 'triple'): SayClient {
  const baseUrl = `http://127.0.0.1:${port}`
  const transport = mode === 'grpc'
    ? createGrpcTransport({ baseUrl, httpVersion: '2' })
    : createDubboTransport({ baseUrl, httpVersion })
  return createPromiseClient(serviceType as never, transport, { serviceVersion, serviceGroup }) as unknown as SayClient
}
