/**
 * One worker of a multi-worker gateway (`workers: N`): a data plane (listeners, pools) and no
 * admin side. It reads no config file: the primary sends the effective options of its current
 * generation at start, then each later generation in two phases (worker-protocol.ts). Signals
 * are the primary's business (SIGINT from a terminal reaches the whole process group); a
 * SIGTERM sent to this process alone, or the primary going away, drains it and exits.
 */
import type { Logger } from 'pino'
import pino from 'pino'
import { droppedHosts } from '../config/compile.js'
import { retiredFilters, type Snapshot } from '../config/snapshot.js'
import { IsthmusError } from '../errors.js'
import { collectProcessMetrics, registry } from '../metrics.js'
import { setAccessLogLevel } from '../proxy/proxied-call.js'
import { closeFilters, DataPlane } from './data-plane.js'
import { wireFilterFailureLogs } from './start.js'
import { isOurs, TAG, toWire, WORKER_INDEX_ENV, type FromWorker, type ToWorker, type WireAddress } from './worker-protocol.js'

interface WorkerState {
  logger: Logger | null
  plane: DataPlane | null
  generation: number
  pending: { generation: number, snapshot: Snapshot } | null
  exiting: boolean
}

function send (m: FromWorker): void {
  // The channel may be gone (primary exited): nothing to tell then.
  if (process.connected) process.send?.(m, undefined, undefined, onSendError)
}
function onSendError (err: Error | null): void { if (err !== null) process.exitCode = 1 }

function wire (a: { address: string, port: number, family: string } | undefined): WireAddress | undefined {
  return a === undefined ? undefined : { address: a.address, port: a.port, family: a.family }
}

/** Run until told to close; resolves with the exit code. */
export function runWorker (): Promise<number> {
  const index = process.env[WORKER_INDEX_ENV] ?? '?'
  const s: WorkerState = { logger: null, plane: null, generation: 0, pending: null, exiting: false }
  return new Promise<number>((resolveExit) => {
    const exit = (code: number): void => {
      if (s.exiting) return
      s.exiting = true
      const plane = s.plane
      if (plane === null) { resolveExit(code); return }
      plane.close().then(() => resolveExit(code), (err: unknown) => { s.logger?.error({ err }, 'worker close failed'); resolveExit(1) })
    }
    process.on('SIGINT', ignoreSignal)
    process.on('SIGHUP', ignoreSignal)
    process.on('SIGTERM', () => exit(0))
    process.on('disconnect', () => exit(0))
    process.on('message', (m: unknown) => {
      if (!isOurs<ToWorker>(m)) return
      handle(s, index, m, exit).catch((err: unknown) => {
        s.logger?.error({ err }, 'worker message failed')
      })
    })
    send({ tag: TAG, t: 'hello' })
  })
}

function ignoreSignal (): void {}

async function handle (s: WorkerState, index: string, m: ToWorker, exit: (code: number) => void): Promise<void> {
  switch (m.t) {
    case 'init': {
      if (s.plane !== null) return
      const logger = pino({ level: m.options.log.level, base: { entity: m.options.entity, worker: Number(index) } })
      s.logger = logger
      try {
        wireFilterFailureLogs(logger)
        setAccessLogLevel(m.options.log.access)
        collectProcessMetrics(m.options.metrics?.eventLoopPrecisionMs)
        const plane = new DataPlane(m.options, { logger, baseDir: m.baseDir, nodeId: m.nodeId })
        s.plane = plane
        plane.install(await plane.compile(m.options))
        s.generation = m.generation
        const a = await plane.listen((listener, addr) => { logger.debug({ listener, port: addr.port }, 'worker listening') })
        send({ tag: TAG, t: 'ready', generation: s.generation, triple: wire(a.triple), bolt: wire(a.bolt) })
      } catch (e) {
        const errno = (e as NodeJS.ErrnoException).code
        const err = errno === 'EADDRINUSE' || errno === 'EACCES' || errno === 'EADDRNOTAVAIL'
          ? new IsthmusError('ISTH_ERR_CONFIG_INVALID', `cannot listen: ${(e as Error).message}`, '/listeners')
          : e
        logger.error({ err: toWire(err) }, 'worker cannot start')
        send({ tag: TAG, t: 'start-failed', error: toWire(err) })
        s.plane?.destroy()
        s.plane = null
        exit(1)
      }
      return
    }
    case 'prepare': {
      const plane = s.plane
      if (plane === null) { send({ tag: TAG, t: 'prepare-failed', generation: m.generation, error: { code: 'ISTH_ERR_INTERNAL', message: 'worker is not started' } }); return }
      discard(s)
      try {
        const snapshot = await plane.compile(m.options)
        s.pending = { generation: m.generation, snapshot }
        send({ tag: TAG, t: 'prepared', generation: m.generation })
      } catch (err) {
        send({ tag: TAG, t: 'prepare-failed', generation: m.generation, error: toWire(err) })
      }
      return
    }
    case 'commit': {
      const p = s.pending
      if (s.plane === null || p === null || p.generation !== m.generation) {
        send({ tag: TAG, t: 'commit-failed', generation: m.generation, error: { code: 'ISTH_ERR_INTERNAL', message: `generation ${m.generation} was not prepared here` } })
        return
      }
      s.pending = null
      s.plane.swap(p.snapshot)
      s.generation = p.generation
      applyLive(s, p.snapshot)
      send({ tag: TAG, t: 'committed', generation: s.generation })
      return
    }
    case 'abort':
      if (s.pending?.generation === m.generation) discard(s)
      return
    case 'drain':
      await s.plane?.drain()
      send({ tag: TAG, t: 'drained' })
      return
    case 'close':
      exit(0)
      return
    case 'metrics':
      send({ tag: TAG, t: 'metrics', id: m.id, metrics: await registry.getMetricsAsJSON() })
  }
}

/** Drop a prepared generation: close what it created that the live one does not use. */
function discard (s: WorkerState): void {
  const p = s.pending
  const plane = s.plane
  if (p === null || plane === null || plane.ref === null) return
  s.pending = null
  const live = plane.ref.current
  closeFilters(retiredFilters(p.snapshot, live), plane.logger)
  plane.hosts.forget(droppedHosts(p.snapshot, live))
}

/** Settings read live: log level and access log (the primary applies its own). */
function applyLive (s: WorkerState, snap: Snapshot): void {
  if (s.logger === null) return
  s.logger.level = snap.options.log.level
  setAccessLogLevel(snap.options.log.access)
}
