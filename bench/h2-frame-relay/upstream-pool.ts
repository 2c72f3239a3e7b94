/**
 * A small pool of h2c connections to one upstream. A call takes the ready connection with
 * the fewest streams; while none is ready (first connect, or all draining after GOAWAY) calls
 * wait, bounded in number and by the connect timeout, then get UNAVAILABLE.
 */
import net, { type Socket } from 'node:net'
import { Conn, flushAll, type Limits } from './conn.js'
import { openUpstream, respondError, upHandlers, type Pool, type Stream } from './relay-stream.js'

export interface PoolOptions {
  host: string
  port: number
  /** Connections kept open (opened at start and replaced when one goes away). */
  size: number
  connectTimeoutMs: number
  /** Calls that may wait for a connection; more are refused at once. */
  maxWaiting: number
  limits: Limits
}

const kPool = Symbol('pool')
const kConn = Symbol('conn')
type UpSocket = Socket & { [kPool]: UpstreamPool, [kConn]: Conn | null }

/** Stream ids are 31 bits: a connection that has used them up takes no new streams. */
const LAST_ID = 0x7fffffff - 2

export class UpstreamPool implements Pool {
  readonly conns: Conn[] = []
  private readonly waiting: Stream[] = []
  private connecting = 0
  private closed = false

  constructor (readonly opt: PoolOptions) {}

  warm (): void { this.grow() }

  attach (st: Stream): void {
    const c = this.pick()
    if (c !== null) { openUpstream(st, c); return }
    if (this.waiting.length >= this.opt.maxWaiting) { respondError(st, 14, 'upstream busy: too many calls waiting for a connection'); return }
    this.waiting.push(st)
    this.grow()
  }

  private pick (): Conn | null {
    let best: Conn | null = null
    for (const c of this.conns) {
      if (c.goingAway || c.dead || c.nextId > LAST_ID || c.streams.size >= c.peerMaxStreams) continue
      if (best === null || c.streams.size < best.streams.size) best = c
    }
    return best
  }

  private usable (): number {
    let n = 0
    for (const c of this.conns) if (!c.goingAway && !c.dead && c.nextId <= LAST_ID) n++
    return n
  }

  private grow (): void {
    if (this.closed) return
    while (this.usable() + this.connecting < this.opt.size) {
      this.connecting++
      const s = net.connect({ host: this.opt.host, port: this.opt.port, noDelay: true }) as UpSocket
      s[kPool] = this
      s[kConn] = null
      s.setTimeout(this.opt.connectTimeoutMs)
      s.on('connect', onConnect)
      s.on('timeout', onConnectTimeout)
      s.on('data', onData)
      s.on('error', noop)
      s.on('close', onClose)
    }
  }

  connected (s: UpSocket): void {
    this.connecting--
    s.setTimeout(0)
    const c = new Conn(s, true, this.opt.limits, upHandlers)
    s[kConn] = c
    this.conns.push(c)
    this.drainWaiting()
  }

  private drainWaiting (): void {
    while (this.waiting.length > 0) {
      const c = this.pick()
      if (c === null) return
      openUpstream(this.waiting.shift()!, c)
    }
  }

  lost (s: UpSocket): void {
    const c = s[kConn]
    if (c === null) {
      this.connecting--
      // Never connected: every waiting call fails now rather than waiting for the next try.
      for (const st of this.waiting.splice(0)) respondError(st, 14, `upstream connection failed: ${this.opt.host}:${this.opt.port}`)
      return
    }
    c.dead = true
    this.conns.splice(this.conns.indexOf(c), 1)
    upHandlers.closed(c)
    if (this.waiting.length > 0 || this.conns.length === 0) this.grow()
  }

  /** A connection went away (GOAWAY): open its replacement. */
  replace (): void { this.grow(); this.drainWaiting() }

  close (): void {
    this.closed = true
    for (const c of this.conns) c.socket.destroy()
  }
}

function onConnect (this: UpSocket): void { this[kPool].connected(this); flushAll() }
function onConnectTimeout (this: UpSocket): void { if (this[kConn] === null) this.destroy() }
function onData (this: UpSocket, chunk: Buffer): void {
  const c = this[kConn]
  if (c === null) return
  const wasGoing = c.goingAway
  c.read(chunk)
  if (!wasGoing && c.goingAway) this[kPool].replace()
  flushAll()
}
function onClose (this: UpSocket): void { this[kPool].lost(this); flushAll() }
function noop (): void {}
