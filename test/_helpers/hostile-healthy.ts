/**
 * Healthy clients of the hostile tests: a grpc-js and a sofa-rpc-node client that keep
 * calling through the gateway (bounded concurrency, a short pause between calls) and count
 * every error, so a test can assert that an attack cost them nothing.
 */
import * as grpc from '@grpc/grpc-js'
import { echoClient, unary, type EchoClient } from '../_peers/grpc-echo.js'
import { sofaClient, sofaConsumer, type SofaClient, type SofaConsumer } from './hostile-sofa.js'
import { sleep } from './hostile-util.js'

/** Generous per-call deadline of the healthy clients (the suite runs beside a CPU hog). */
export const HEALTHY_DEADLINE_MS = 8000

/** A client that keeps calling (bounded concurrency) and counts what went wrong. */
export class HealthyLoop {
  readonly name: string
  calls = 0
  errors = 0
  /** The first few errors, for the assertion message. */
  readonly samples: string[] = []
  readonly #once: (n: number) => Promise<void>
  readonly #close: () => Promise<void> | void
  readonly #pauseMs: number
  #stopped = false
  #paused = false
  #inFlight = 0
  #workers: Array<Promise<void>> = []
  #n = 0

  constructor (name: string, once: (n: number) => Promise<void>, close: () => Promise<void> | void, pauseMs = 15) {
    this.name = name
    this.#once = once
    this.#close = close
    this.#pauseMs = pauseMs
  }

  start (concurrency: number): this {
    for (let i = 0; i < concurrency; i++) this.#workers.push(this.#run())
    return this
  }

  async #run (): Promise<void> {
    while (!this.#stopped) {
      if (this.#paused) { await sleep(20); continue }
      const n = this.#n++
      this.#inFlight++
      try {
        await this.#once(n)
        this.calls++
      } catch (err) {
        this.errors++
        if (this.samples.length < 8) this.samples.push(`${new Date().toISOString()} ${describeError(err)}`)
      } finally {
        this.#inFlight--
      }
      await sleep(this.#pauseMs)
    }
  }

  /** Stop starting calls (for an attack that, by design, refuses everyone for a moment); resolves once none is in flight. */
  async pause (): Promise<void> {
    this.#paused = true
    while (this.#inFlight > 0) await sleep(10)
  }

  resume (): void { this.#paused = false }

  async stop (): Promise<void> {
    this.#stopped = true
    await Promise.all(this.#workers)
    await this.#close()
  }
}

function describeError (err: unknown): string {
  if (err === null || typeof err !== 'object') return String(err)
  const e = err as { code?: unknown, details?: unknown, message?: unknown, name?: unknown }
  return `${String(e.name ?? 'Error')} code=${String(e.code ?? '')} ${String(e.details ?? e.message ?? '')}`.slice(0, 300)
}

/** grpc-js unary calls through the gateway to the grpc-js echo upstream; the reply must echo. */
export function grpcLoop (port: number, deadlineMs = HEALTHY_DEADLINE_MS): HealthyLoop {
  const client: EchoClient = echoClient(port)
  return new HealthyLoop('grpc-js', async (n) => {
    const message = `healthy-${n}`
    const r = await unary(client, { message }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs })
    if (r.reply.message !== message) throw new Error(`wrong reply ${JSON.stringify(r.reply.message)}`)
  }, () => client.close())
}

/** sofa-rpc-node calls through the gateway to the sofa-rpc-node upstream; the reply must echo. */
export async function sofaLoop (port: number, timeoutMs = HEALTHY_DEADLINE_MS): Promise<HealthyLoop> {
  const client: SofaClient = sofaClient()
  const consumer: SofaConsumer = await sofaConsumer(client, port)
  return new HealthyLoop('sofa-rpc-node', async (n) => {
    const message = `healthy-${n}`
    const v = await consumer.invoke('echo', [message], { responseTimeout: timeoutMs })
    if (v !== message) throw new Error(`wrong reply ${JSON.stringify(v)}`)
  }, () => client.close())
}
