/** `isthmus audit export`: options, config, signals. */
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { IsthmusError, type AuditSinkOptions } from '../../../gateway/index.js'
import { Exporter } from './exporter.js'
import { makeSink, type Sink } from './sinks.js'
import type { AuditCommandContext } from '../cli.js'

const USAGE = `Usage: isthmus audit export [-c <config.yaml>] [--redis <url>] [--sink <sink>]... [options]

Deliver the audit queue to sinks, in order, at least once (sinks de-duplicate by record id;
the file sink holds every line exactly once). Sinks and Redis come from the config file's
"audit.export" and "redis" sections, or from the options (which win).

Options:
  -c, --config <file>     gateway config file (redis, audit.export.sinks/queueName/retry)
  --redis <url>           redis:// or rediss:// URL of the queue
  --key-prefix <prefix>   Redis key prefix (default isthmus:)
  --queue <name>          queue name (default audit)
  --sink <sink>           file:<path>[,checkpoints=<path>] | http(s)://<url> | stdout; repeatable
  --until-idle <ms>       exit 0 once the queue stayed empty this long (batch runs, tests)
  -h, --help              show this help

Signals: SIGTERM/SIGINT finish or requeue the job in progress, then exit 0.
Run one exporter per queue: a second one waits for the first one's lock.`

function fail (message: string, code = 2): number {
  process.stderr.write(`isthmus: ${message}\n`)
  return code
}

function parseSink (s: string): AuditSinkOptions {
  if (s === 'stdout') return { type: 'stdout' }
  if (s.startsWith('http://') || s.startsWith('https://')) return { type: 'http', url: s }
  if (s.startsWith('file:')) {
    const [path, ...opts] = s.slice(5).split(',')
    const ckpt = opts.find(o => o.startsWith('checkpoints='))
    if (path === '') throw new Error(`--sink ${s}: a file sink needs a path`)
    return ckpt === undefined ? { type: 'file', path } : { type: 'file', path, checkpoints: ckpt.slice(12) }
  }
  throw new Error(`--sink ${s}: expected file:<path>, http(s)://<url> or stdout`)
}

export async function runExportCommand (argv: string[], ctx: AuditCommandContext): Promise<number> {
  let values: { config?: string, redis?: string, 'key-prefix'?: string, queue?: string, sink?: string[], 'until-idle'?: string, help?: boolean }
  try {
    values = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' }, redis: { type: 'string' }, 'key-prefix': { type: 'string' }, queue: { type: 'string' },
        sink: { type: 'string', multiple: true }, 'until-idle': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (err) {
    return fail(`${(err as Error).message} (run "isthmus audit export --help")`)
  }
  if (values.help === true) { process.stdout.write(USAGE + '\n'); return 0 }

  let redisUrl = values.redis
  let keyPrefix = values['key-prefix'] ?? 'isthmus:'
  let passwordEnv: string | undefined
  let queueName = values.queue ?? 'audit'
  let retry = { baseMs: 200, maxMs: 30000 }
  let sinkOptions: AuditSinkOptions[] = []
  let baseDir = process.cwd()
  if (values.config !== undefined) {
    try {
      const loaded = ctx.loadConfigFile(resolve(values.config))
      baseDir = dirname(resolve(values.config))
      const r = loaded.options.redis
      if (r !== undefined) { redisUrl ??= r.url; if (values['key-prefix'] === undefined) keyPrefix = r.keyPrefix; passwordEnv = r.passwordEnv }
      const e = loaded.options.audit.export
      if (values.queue === undefined) queueName = e.queueName
      retry = e.retry
      sinkOptions = e.sinks
    } catch (err) {
      if (err instanceof IsthmusError) return fail(err.message)
      throw err
    }
  }
  try {
    if (values.sink !== undefined) sinkOptions = values.sink.map(parseSink)
  } catch (err) {
    return fail((err as Error).message)
  }
  if (redisUrl === undefined) return fail('audit export: no Redis: pass --redis <url> or a config file with a "redis" section')
  if (!/^rediss?:\/\//.test(redisUrl)) return fail(`audit export: --redis ${redisUrl}: must start with redis:// or rediss://`)
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(queueName)) return fail(`audit export: --queue ${queueName}: letters, digits, ".", "_" and "-" only`)
  if (sinkOptions.length === 0) return fail('audit export: no sink: pass --sink or set audit.export.sinks in the config file')
  let password: string | undefined
  if (passwordEnv !== undefined) {
    password = process.env[passwordEnv]
    if (password === undefined || password === '') return fail(`audit export: environment variable ${passwordEnv} (redis.passwordEnv) is not set`)
  }
  const idleMs = values['until-idle'] === undefined ? null : Number(values['until-idle'])
  if (idleMs !== null && !(Number.isInteger(idleMs) && idleMs >= 0)) return fail(`audit export: --until-idle ${values['until-idle']}: must be a number of milliseconds`)

  let sinks: Sink[]
  try {
    sinks = sinkOptions.map((s, i) => makeSink(s, i, baseDir))
  } catch (err) {
    return fail(`audit export: cannot open a sink: ${(err as Error).message}`, 1)
  }
  const logger = pino({ level: process.env.ISTHMUS_LOG_LEVEL ?? 'info' }, pino.destination(2))
  const exporter = new Exporter({ redisUrl, password, keyPrefix, queueName, retry, sinks, logger })
  return new Promise<number>((resolveExit) => {
    let done = false
    const finish = (code: number): void => {
      if (done) return
      done = true
      exporter.close().then(() => resolveExit(code), (err: unknown) => { logger.error({ err }, 'audit exporter close failed'); resolveExit(1) })
    }
    process.on('SIGTERM', () => finish(0))
    process.on('SIGINT', () => finish(0))
    exporter.start().then(() => {
      if (idleMs === null) return
      const tick = (): void => {
        if (done) return
        exporter.depth().then((d) => {
          if (d === 0 && Date.now() - exporter.lastJobAt >= idleMs) { logger.info({ jobs: exporter.processed }, 'audit queue idle; exiting'); finish(0); return }
          setTimeout(tick, 200)
        }, () => setTimeout(tick, 500))
      }
      tick()
    }, (err: unknown) => {
      logger.error({ err: (err as Error).message }, 'audit exporter could not start')
      finish(1)
    })
  })
}
