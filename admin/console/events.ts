/**
 * GET /v1/events: Server-Sent Events of the console state (admin/console/state.ts), one
 * `state` event a second to every watcher. One timer builds the state once per tick, only
 * while someone watches; the data path does no work for it. Bounded: at most `maxClients`
 * watchers (past it: 503), and a watcher that does not read (more than `maxBufferedBytes`
 * unsent) is dropped, so a slow client costs itself, not the admin thread or other watchers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { limitTrips } from '../../gateway/metrics.js'
import { buildState, type ConsoleSources } from './state.js'

export interface EventsOptions {
  maxClients: number
  maxBufferedBytes: number
  intervalMs: number
}

export const DEFAULT_EVENTS: Readonly<EventsOptions> = Object.freeze({ maxClients: 128, maxBufferedBytes: 1024 * 1024, intervalMs: 1000 })

const TRIP_CLIENTS = limitTrips('admin', 'events_clients')
const TRIP_SLOW = limitTrips('admin', 'events_slow')

function onClientError (this: ServerResponse): void { this.destroy() }

export class EventHub {
  readonly #o: EventsOptions
  readonly #src: ConsoleSources
  readonly #log: Logger
  readonly #clients = new Set<ServerResponse>()
  #timer: NodeJS.Timeout | null = null
  #building = false
  #closed = false
  #seq = 0

  constructor (src: ConsoleSources, o: EventsOptions, log: Logger) {
    this.#src = src
    this.#o = o
    this.#log = log
  }

  get clients (): number { return this.#clients.size }

  /** Serve one watcher (the request is authenticated already). */
  attach (req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed || this.#clients.size >= this.#o.maxClients) {
      TRIP_CLIENTS.n++
      const body = JSON.stringify({ error: { code: 'ISTH_ERR_ADMIN_EVENTS_FULL', message: `${this.#o.maxClients} event watchers already (listeners.admin.events.maxClients)` } })
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '5', 'content-length': Buffer.byteLength(body) })
      res.end(body)
      return
    }
    res.on('error', onClientError)
    req.socket.setNoDelay(true)
    // The request deadline of the admin server must not cut a stream that is meant to last.
    req.socket.setTimeout(0)
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
    })
    res.write(`retry: 2000\n\n`)
    this.#clients.add(res)
    res.on('close', () => { this.#clients.delete(res); if (this.#clients.size === 0) this.#stop() })
    this.#start()
    // The first state right away, not a second later.
    void this.#tick()
  }

  close (): void {
    this.#closed = true
    this.#stop()
    for (const c of this.#clients) c.destroy()
    this.#clients.clear()
  }

  #start (): void {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => { void this.#tick() }, this.#o.intervalMs)
    this.#timer.unref()
  }

  #stop (): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
  }

  async #tick (): Promise<void> {
    if (this.#building || this.#clients.size === 0) return
    this.#building = true
    try {
      this.#src.rates.sample()
      const state = await buildState(this.#src)
      const frame = `id: ${++this.#seq}\nevent: state\ndata: ${JSON.stringify(state)}\n\n`
      for (const c of this.#clients) {
        if (c.writableLength > this.#o.maxBufferedBytes) { TRIP_SLOW.n++; c.destroy(); continue }
        c.write(frame)
      }
    } catch (err) {
      this.#log.error({ err }, 'console state failed')
    } finally {
      this.#building = false
    }
  }
}
