/**
 * One HTTP request on its own connection (no keep-alive pool): fetch reuses pooled sockets,
 * and on a starved machine a request can land on a socket the server is closing as idle
 * ("fetch failed"). Tests of the admin API that make many requests use this instead.
 */
import { request } from 'node:http'

export interface HttpReply { status: number, type: string, body: unknown }

export function httpJson (port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request({
      host: '127.0.0.1', port, method, path, agent: false,
      headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const type = String(res.headers['content-type'] ?? '')
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, type, body: type.startsWith('application/json') ? JSON.parse(text) as unknown : text })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** `GET /metrics` on its own connection (polling through fetch's pool raced idle closes: "other side closed"). */
export async function metricsText (port: number): Promise<string> {
  const r = await httpJson(port, 'GET', '/metrics')
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`)
  return String(r.body)
}
