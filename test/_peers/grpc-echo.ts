/**
 * A real grpc-js server for tests: unary, server/client streaming, bidi; echoes `x-*` metadata
 * back as initial metadata and as `x-trailer-*` trailers; `fail_code` answers with that status
 * (Trailers-Only); `delay_ms` waits first and records cancellations.
 */
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'

export const ECHO_PROTO = fileURLToPath(new URL('./echo.proto', import.meta.url))

export interface EchoRequest { message?: string, payload?: Buffer, count?: number, failCode?: number, delayMs?: number }
export interface EchoReply { message: string, payload: Buffer, servedBy: string, index: number }

type EchoClientCtor = new (address: string, creds: grpc.ChannelCredentials, options?: object) => EchoClient
export interface EchoClient extends grpc.Client {
  unary (req: EchoRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: EchoReply) => void): grpc.ClientUnaryCall
  serverStream (req: EchoRequest, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>
  clientStream (md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: EchoReply) => void): grpc.ClientWritableStream<EchoRequest>
  bidi (md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>
}

const def = loader.loadSync(ECHO_PROTO, { keepCase: false, defaults: true, longs: Number })
const pkg = grpc.loadPackageDefinition(def) as unknown as { isthmus: { test: { Echo: EchoClientCtor & { service: grpc.ServiceDefinition } } } }
export const EchoService = pkg.isthmus.test.Echo

export interface EchoServer {
  readonly port: number
  readonly name: string
  /** Calls the server saw cancelled (by method). */
  readonly cancelled: string[]
  /** Request metadata of every call, in arrival order. */
  readonly seen: grpc.Metadata[]
  /** The deadline each unary call arrived with (ms since the epoch; Infinity: none), from grpc-timeout. */
  readonly deadlines: number[]
  calls: number
  close (): Promise<void>
  /** Kill every connection now (upstream "crash"). */
  kill (): void
}

function echoMetadata (md: grpc.Metadata): { initial: grpc.Metadata, trailers: grpc.Metadata } {
  const initial = new grpc.Metadata()
  const trailers = new grpc.Metadata()
  for (const [k, v] of Object.entries(md.getMap())) {
    if (!k.startsWith('x-')) continue
    initial.set(k, v as string | Buffer)
    trailers.set(`x-trailer-${k.slice(2)}`, v as string | Buffer)
  }
  return { initial, trailers }
}

export async function startEchoServer (name = 'echo'): Promise<EchoServer> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20 })
  const state: EchoServer = {
    port: 0,
    name,
    cancelled: [],
    seen: [],
    deadlines: [],
    calls: 0,
    close: () => new Promise<void>(resolve => server.tryShutdown(() => resolve())),
    kill: () => server.forceShutdown(),
  }
  const reply = (req: EchoRequest, index = 0): EchoReply => ({ message: req.message ?? '', payload: req.payload ?? Buffer.alloc(0), servedBy: name, index })
  const failIf = (req: EchoRequest): grpc.ServiceError | null => {
    if (req.failCode === undefined || req.failCode === 0) return null
    const md = new grpc.Metadata()
    md.set('x-fail-detail-bin', Buffer.from([1, 2, 3]))
    return Object.assign(new Error(`failed as asked: ${req.message ?? ''}`), { code: req.failCode, details: `failed as asked: ${req.message ?? ''}`, metadata: md }) as grpc.ServiceError
  }
  server.addService(EchoService.service, {
    unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      state.calls++
      state.seen.push(call.metadata)
      const d = call.getDeadline()
      state.deadlines.push(d instanceof Date ? d.getTime() : d)
      const { initial, trailers } = echoMetadata(call.metadata)
      const finish = (): void => {
        const err = failIf(call.request)
        if (err !== null) { cb(err); return }
        call.sendMetadata(initial)
        cb(null, reply(call.request), trailers)
      }
      const delay = call.request.delayMs ?? 0
      if (delay > 0) {
        const timer = setTimeout(finish, delay)
        call.on('cancelled', () => { clearTimeout(timer); state.cancelled.push('unary') })
      } else finish()
    },
    serverStream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      state.calls++
      state.seen.push(call.metadata)
      const n = call.request.count ?? 3
      const delay = call.request.delayMs ?? 0
      let i = 0
      let timer: NodeJS.Timeout | null = null
      call.on('cancelled', () => { if (timer !== null) clearTimeout(timer); state.cancelled.push('serverStream') })
      const next = (): void => {
        if (call.cancelled) return
        if (i >= n) {
          const err = failIf(call.request)
          if (err !== null) { call.emit('error', err); return }
          call.end(echoMetadata(call.metadata).trailers)
          return
        }
        call.write(reply(call.request, i++))
        if (delay > 0) timer = setTimeout(next, delay); else setImmediate(next)
      }
      call.sendMetadata(echoMetadata(call.metadata).initial)
      next()
    },
    clientStream: (call: grpc.ServerReadableStream<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      state.calls++
      state.seen.push(call.metadata)
      const parts: string[] = []
      let bytes = 0
      call.on('data', (r: EchoRequest) => { parts.push(r.message ?? ''); bytes += r.payload?.length ?? 0 })
      call.on('end', () => cb(null, { message: parts.join(','), payload: Buffer.alloc(0), servedBy: name, index: bytes }))
      call.on('cancelled', () => state.cancelled.push('clientStream'))
    },
    bidi: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      state.calls++
      state.seen.push(call.metadata)
      let i = 0
      call.on('data', (r: EchoRequest) => call.write(reply(r, i++)))
      call.on('end', () => call.end())
      call.on('cancelled', () => state.cancelled.push('bidi'))
    },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => err ? reject(err) : resolve(p)))
  ;(state as { port: number }).port = port
  return state
}

export function echoClient (port: number, options: object = {}): EchoClient {
  return new EchoService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 << 20,
    'grpc.max_send_message_length': 64 << 20,
    ...options,
  })
}

export function unary (client: EchoClient, req: EchoRequest, md = new grpc.Metadata(), opts: grpc.CallOptions = {}): Promise<{ reply: EchoReply, headers: grpc.Metadata, trailers: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata()
    let trailers = new grpc.Metadata()
    let result: EchoReply | null = null
    let error: grpc.ServiceError | null = null
    const call = client.unary(req, md, opts, (err, res) => { error = err; result = res })
    call.on('metadata', (m: grpc.Metadata) => { headers = m })
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata
      if (error !== null) reject(error)
      else resolve({ reply: result as unknown as EchoReply, headers, trailers })
    })
  })
}
