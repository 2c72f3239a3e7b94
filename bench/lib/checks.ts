/**
 * Correctness checks run through every target before timing it: h2load counts only HTTP
 * statuses, so a proxy answering `grpc-status: 13` in every trailer would look fast.
 */
import { execFile } from 'node:child_process'
import * as grpc from '@grpc/grpc-js'

export interface CheckResult {
  ok: boolean
  detail: string
}

const identity = (b: Buffer): Buffer => b

/** One unary call with @grpc/grpc-js; expects `status` and, when OK, a body of `bodyBytes`. */
export function grpcCall (port: number, path: string, request: Buffer, status: grpc.status, bodyBytes: number): Promise<CheckResult> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  return new Promise<CheckResult>((resolve) => {
    client.makeUnaryRequest(path, identity, identity, request, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, res?: Buffer) => {
      client.close()
      const got = err === null ? grpc.status.OK : err.code
      if (got !== status) { resolve({ ok: false, detail: `${path}: grpc-status ${got} (${err?.details ?? ''}), expected ${status}` }); return }
      if (status === grpc.status.OK && res?.length !== bodyBytes) { resolve({ ok: false, detail: `${path}: ${res?.length ?? 0}-byte response, expected ${bodyBytes}` }); return }
      resolve({ ok: true, detail: `${path}: grpc-status ${got}` })
    })
  })
}

/**
 * A Triple unary call (application/json, no gRPC framing): its response has no trailers and
 * must end with END_STREAM (on the last DATA or HEADERS frame), never RST_STREAM(NO_ERROR)
 * (PROTOCOLS.md). `nghttp -v` prints every frame.
 */
export function endStreamCheck (port: number, path: string, bodyFile: string): Promise<CheckResult> {
  return new Promise((resolve) => {
    execFile('nghttp', ['-v', '-d', bodyFile, '-H', 'content-type: application/json', `http://127.0.0.1:${port}${path}`],
      { timeout: 10000, encoding: 'latin1', maxBuffer: 1 << 20 }, (err, stdout) => {
        const frames = stdout.split('\n').filter(l => / recv [A-Z_]+ frame .*stream_id=13>/.test(l))
        const last = frames[frames.length - 1] ?? ''
        if (frames.some(l => l.includes('recv RST_STREAM'))) { resolve({ ok: false, detail: `${path}: RST_STREAM instead of END_STREAM` }); return }
        const m = /recv (DATA|HEADERS) frame <length=\d+, flags=0x([0-9a-f]+)/.exec(last)
        if (m !== null && (parseInt(m[2], 16) & 1) === 1) { resolve({ ok: true, detail: `${path}: ends with END_STREAM on ${m[1]}` }); return }
        resolve({ ok: false, detail: `${path}: last frame "${last.trim()}"${err !== null ? ` (${err.message.split('\n')[0]})` : ''}` })
      })
  })
}
